package portal

import "testing"

func TestMinorUnits(t *testing.T) {
	for _, c := range []struct {
		in, cur string
		want    int64
	}{{"12.34", "EUR", 1234}, {"12,3", "EUR", 1230}, {"12", "EUR", 1200}, {" 0.01 ", "EUR", 1}, {"1500", "JPY", 1500}} {
		if got, err := minorUnits(c.in, c.cur); err != nil || got != c.want {
			t.Errorf("minorUnits(%q, %s) = %d, %v; want %d", c.in, c.cur, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1.234", "1.", ".5", "1e3", "12.3.4", "9999999999999"} {
		if got, err := minorUnits(bad, "EUR"); err == nil {
			t.Errorf("minorUnits(%q) = %d, want a refusal", bad, got)
		}
	}
	if got, err := minorUnits("1.5", "JPY"); err == nil {
		t.Errorf("JPY with decimals: %d", got)
	}
	if d := decimal(1005, "EUR"); d != "10.05" {
		t.Errorf("decimal(1005) = %q", d)
	}
	if m := money(1500, "JPY"); m != "1500 JPY" {
		t.Errorf("money JPY = %q", m)
	}
}
