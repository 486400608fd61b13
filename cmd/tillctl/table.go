package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table writes tab-separated rows aligned for people.
func table(out io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// money shows minor units with two decimals (the currencies of the demo
// have two; JSON output keeps the minor units).
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
