package portal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/payments"
	"github.com/tillgate/tillgate/store"
)

// The payment links section: every link of the merchant with its status
// (open, paid, expired), amount, description, customer and the payment
// that paid it, newest first; and a form that makes one through POST
// /v1/links and shows its URL, to send to the customer.

// Bounds of the links section: the API lists links oldest first, so the
// portal reads up to maxLinkPages pages to show the newest shownLinks.
const (
	linkPage     = 100
	maxLinkPages = 20
	shownLinks   = 50
)

// linkStatuses are the link filter's choices.
var linkStatuses = []string{payments.LinkOpen, payments.LinkPaid, payments.LinkExpired}

// linkRow is one link in the list.
type linkRow struct {
	*payments.LinkView
	Amount, Created, Expires string
}

// linkForm is the new link form's values: its defaults, or what the
// merchant typed when the API refused it.
type linkForm struct {
	Amount, Currency, Description, Name, Email, Expires string
	// Idem is the Idempotency-Key of the form: sent again (a reload, a
	// double click), it is the same link.
	Idem string
}

func (p *Portal) newLinkForm() *linkForm {
	return &linkForm{Currency: "EUR", Expires: p.cfg.Clock().UTC().Add(payments.DefaultLinkLifetime).Format(time.DateOnly), Idem: randomIdem()}
}

func randomIdem() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "portal-link-" + hex.EncodeToString(b)
}

// fillLinks puts the merchant's links (filtered by the query's
// link_status) and a new link form on pg.
func (p *Portal) fillLinks(r *http.Request, m *store.Merchant, pg *page) {
	if pg.LinkForm == nil {
		pg.LinkForm = p.newLinkForm()
	}
	pg.LinkStatuses = linkStatuses
	pg.LinkStatus = r.URL.Query().Get("link_status")
	var all []*payments.LinkView
	cursor := ""
	for range maxLinkPages {
		q := url.Values{"limit": {itoa(linkPage)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var list payments.LinkList
		if _, e := p.call(r, m, http.MethodGet, "/v1/links?"+q.Encode(), "", nil, &list); e != "" {
			pg.Error = strings.TrimSpace(pg.Error + " The links could not be listed: " + e)
			return
		}
		all = append(all, list.Data...)
		if cursor = list.NextCursor; cursor == "" {
			break
		}
	}
	pg.LinksPartial, pg.LinksRead = cursor != "", len(all)
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt > all[j].CreatedAt })
	for _, v := range all {
		if pg.LinkStatus != "" && v.Status != pg.LinkStatus {
			continue
		}
		if len(pg.Links) == shownLinks {
			pg.LinksMore++
			continue
		}
		pg.Links = append(pg.Links, p.linkRow(v))
	}
}

func (p *Portal) linkRow(v *payments.LinkView) linkRow {
	created, _ := time.Parse(time.RFC3339Nano, v.CreatedAt)
	expires, _ := time.Parse(time.RFC3339Nano, v.ExpiresAt)
	return linkRow{LinkView: v, Amount: money(v.Amount, v.Currency),
		Created: created.UTC().Format("2006-01-02 15:04"), Expires: expires.UTC().Format("2006-01-02 15:04")}
}

// createLink is the new link form: POST /v1/links as the merchant, then
// the page with the link's URL.
func (p *Portal) createLink(w http.ResponseWriter, r *http.Request) {
	m, s, ok := p.formPost(w, r)
	if !ok {
		return
	}
	f := &linkForm{
		Amount: strings.TrimSpace(r.PostFormValue("amount")), Currency: strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))),
		Description: strings.TrimSpace(r.PostFormValue("description")), Name: strings.TrimSpace(r.PostFormValue("customer_name")),
		Email: strings.TrimSpace(r.PostFormValue("customer_email")), Expires: strings.TrimSpace(r.PostFormValue("expires")),
		Idem: r.PostFormValue("idem"),
	}
	if len(f.Idem) > 64 {
		f.Idem = ""
	}
	refuse := func(code int, msg string) {
		pg := &page{Merchant: m, CSRF: p.csrf(s), Error: "The link was not created: " + msg, LinkForm: f}
		p.ordersPage(w, r, m, code, pg)
	}
	amount, err := minorUnits(f.Amount, f.Currency)
	if err != nil {
		refuse(http.StatusBadRequest, err.Error())
		return
	}
	req := payments.LinkRequest{Amount: &amount, Currency: f.Currency, Description: f.Description,
		Customer: &payments.Customer{Name: f.Name, Email: f.Email}}
	if f.Expires != "" {
		d, err := time.Parse(time.DateOnly, f.Expires)
		if err != nil {
			refuse(http.StatusBadRequest, "expiry "+f.Expires+": want a date (YYYY-MM-DD)")
			return
		}
		// The link works through the whole day it expires (UTC).
		req.ExpiresAt = d.Add(24*time.Hour - time.Second).UTC().Format(time.RFC3339)
	}
	body, _ := json.Marshal(req)
	var v payments.LinkView
	if code, e := p.call(r, m, http.MethodPost, "/v1/links", f.Idem, body, &v); e != "" {
		refuse(code, e)
		return
	}
	p.log.Info("portal link created", "merchant", m.ID, "link", v.ID)
	row := p.linkRow(&v)
	pg := &page{Merchant: m, CSRF: p.csrf(s), Created: &row,
		Notice: "Payment link created for " + row.Amount + ": send the URL below to " + nameOr(v.Customer) + "."}
	p.ordersPage(w, r, m, http.StatusOK, pg)
}

func nameOr(c payments.Customer) string {
	switch {
	case c.Name != "" && c.Email != "":
		return c.Name + " (" + c.Email + ")"
	case c.Name != "":
		return c.Name
	case c.Email != "":
		return c.Email
	}
	return "the customer"
}

// linksTmpl fills the page's "links" block.
var linksTmpl = template.Must(tmpl.New("links").Parse(`{{if .Merchant}}
<div class="card" id="links">
<h2>Payment links</h2>
{{with .Created}}<div class="card ok" id="new-link"><p><strong>New link</strong> · {{.Amount}}{{if .Description}} · {{.Description}}{{end}} · expires {{.Expires}} UTC</p>
<p><label for="new-link-url">Link URL</label><br><input id="new-link-url" type="text" readonly value="{{.URL}}" size="90" style="width:100%"></p>
<p><a href="{{.URL}}">{{.URL}}</a></p></div>{{end}}
<h3>New payment link</h3>
<form method="post" action="/portal/links">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="idem" value="{{.LinkForm.Idem}}">
<label>Amount <input class="amt" type="text" name="amount" value="{{.LinkForm.Amount}}" inputmode="decimal" required placeholder="12.34"></label>
<label>Currency <input type="text" name="currency" value="{{.LinkForm.Currency}}" size="4" maxlength="3" required></label>
<label>Description <input type="text" name="description" value="{{.LinkForm.Description}}" size="36" maxlength="1024"></label><br>
<label>Customer name <input type="text" name="customer_name" value="{{.LinkForm.Name}}" size="24"></label>
<label>Customer email <input type="text" name="customer_email" value="{{.LinkForm.Email}}" size="28" inputmode="email"></label>
<label>Expires (UTC, end of day) <input type="date" name="expires" value="{{.LinkForm.Expires}}"></label>
<button type="submit">Create link</button>
</form>
<form method="get" action="/portal/" style="margin:10px 0">
{{if .Status}}<input type="hidden" name="status" value="{{.Status}}">{{end}}{{if .From}}<input type="hidden" name="from" value="{{.From}}">{{end}}{{if .To}}<input type="hidden" name="to" value="{{.To}}">{{end}}
<label>Link status <select name="link_status"><option value="">any</option>{{range .LinkStatuses}}<option value="{{.}}"{{if eq . $.LinkStatus}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<button type="submit">Filter</button>
</form>
{{if not .Links}}<p>No payment links{{if .LinkStatus}} are {{.LinkStatus}}{{end}}.</p>{{else}}
<table>
<thead><tr><th>Created (UTC)</th><th>Description</th><th>Customer</th><th class="num">Amount</th><th>Expires (UTC)</th><th>Status</th><th>Payment</th><th>URL</th></tr></thead>
<tbody>
{{range .Links}}<tr id="{{.ID}}">
<td>{{.Created}}</td><td>{{.Description}}</td>
<td>{{.Customer.Name}}{{if .Customer.Email}}<div class="muted">{{.Customer.Email}}</div>{{end}}</td>
<td class="num">{{.Amount}}</td><td>{{.Expires}}</td>
<td><span class="st st-{{.Status}}">{{.Status}}</span></td>
<td>{{if .Payment}}<a href="#{{.Payment}}"><code>{{.Payment}}</code></a>{{else if .Attempts}}<span class="muted">{{len .Attempts}} attempt(s)</span>{{end}}</td>
<td>{{if eq .Status "open"}}<a href="{{.URL}}">open page</a>{{else}}<span class="muted">—</span>{{end}}</td>
</tr>
{{end}}</tbody></table>
{{if .LinksMore}}<p class="muted">{{.LinksMore}} older link(s) not shown.</p>{{end}}
{{end}}
{{if .LinksPartial}}<p class="muted">Only the oldest {{.LinksRead}} links were read: newer ones are not shown.</p>{{end}}
</div>
{{end}}`))

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
