package portal

import "html/template"

// tmpl is every portal page: the login form without a session, the orders
// with one. Styles inline, no scripts, no external assets.
var tmpl = template.Must(template.New("portal").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Merchant}}{{.Merchant.Name}} · {{end}}Merchant portal · tillgate</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#f4f6f9}
header{display:flex;align-items:center;justify-content:space-between;background:#1d2a3a;color:#fff;padding:10px 24px}
header h1{font-size:18px;margin:0}
main{padding:16px 24px;max-width:1300px}
.card{background:#fff;border:1px solid #d9dee6;border-radius:6px;padding:14px 18px;margin-bottom:16px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e6e9ee;vertical-align:middle}
th{background:#eef1f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600}
.st-authorized{background:#fff4d6;color:#7a5500}.st-captured{background:#dcf5e3;color:#145c2c}
.st-declined{background:#fde2e2;color:#8a1c1c}.st-voided,.st-refunded{background:#e6e9ee;color:#3b4656}
.st-pending{background:#e3ecff;color:#1b3f8a}
.err{background:#fde2e2;border-color:#f3b4b4;color:#8a1c1c}.ok{background:#dcf5e3;border-color:#a9dcb8;color:#145c2c}
form.inline{display:inline-flex;gap:4px;margin:2px 6px 2px 0;align-items:center}
input[type=text],input[type=password],input[type=date],select{padding:4px 6px;border:1px solid #b8c0cc;border-radius:4px;font:inherit}
input.amt{width:80px}
button{padding:4px 10px;border:1px solid #2d5fa8;background:#2d5fa8;color:#fff;border-radius:4px;font:inherit;cursor:pointer}
button.quiet{background:#fff;color:#2d5fa8}
button.warn{background:#a8342d;border-color:#a8342d}
label{margin-right:10px}
.muted{color:#5b6678;font-size:13px}
</style></head><body>
<header><h1>Merchant portal{{if .Merchant}} · {{.Merchant.Name}}{{end}}</h1>
{{if .Merchant}}<form class="inline" method="post" action="/portal/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><span class="muted" style="color:#c9d3e0">{{.Merchant.ID}} · terminal {{.Merchant.Terminal}}</span>&nbsp;<button class="quiet" type="submit">Log out</button></form>{{end}}
</header><main>
{{if .Error}}<div class="card err" role="alert">{{.Error}}</div>{{end}}
{{if .Notice}}<div class="card ok" role="status">{{.Notice}}</div>{{end}}
{{if not .Merchant}}
<div class="card" style="max-width:460px">
<h2>Log in</h2>
<form method="post" action="/portal/login">
<p><label for="key">API key</label><br><input id="key" name="key" type="password" autocomplete="off" required size="40"></p>
<p><button type="submit">Log in</button></p>
</form>
<p class="muted">Use the merchant's API key (the one the shop sends as <code>Authorization: Bearer</code>). The session lasts 8 hours.</p>
</div>
{{else}}
<div class="card">
<form method="get" action="/portal/">
<label>Status <select name="status"><option value="">any</option>{{range .Statuses}}<option value="{{.}}"{{if eq . $.Status}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>From <input type="date" name="from" value="{{.From}}"></label>
<label>To <input type="date" name="to" value="{{.To}}"></label>
<button type="submit">Filter</button> <a href="/portal/">Clear</a>
</form>
</div>
<div class="card">
<h2>Orders</h2>
{{if not .Payments}}<p>No payments{{if or .Status .From .To}} match these filters{{end}}.</p>{{else}}
<table>
<thead><tr><th>Created (UTC)</th><th>Order</th><th>Payment</th><th>Card</th><th class="num">Amount</th><th class="num">Captured</th><th class="num">Refunded</th><th>Status</th><th>Actions</th></tr></thead>
<tbody>
{{range .Payments}}<tr id="{{.ID}}">
<td>{{.Created}}</td><td>{{.OrderID}}{{if .Description}}<div class="muted">{{.Description}}</div>{{end}}</td>
<td><code>{{.ID}}</code></td><td>{{.Card.Brand}} •••• {{.Card.Last4}}</td>
<td class="num">{{.Amount}}</td><td class="num">{{.Captured}}</td><td class="num">{{.Refunded}}</td>
<td><span class="st st-{{.Status}}">{{.Status}}</span>{{if .DeclineCode}} <span class="muted">(code {{.DeclineCode}})</span>{{end}}</td>
<td>
{{if .CanCapture}}<form class="inline" method="post" action="/portal/payments/{{.ID}}/capture"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="idem" value="{{.Idem}}-c"><input type="hidden" name="currency" value="{{.Currency}}"><input class="amt" type="text" name="amount" value="{{.Capturable}}" aria-label="Capture amount ({{.Currency}})" inputmode="decimal"><button type="submit">Capture</button></form>{{end}}
{{if .CanVoid}}<form class="inline" method="post" action="/portal/payments/{{.ID}}/void"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button class="warn" type="submit">Void</button></form>{{end}}
{{if .CanRefund}}<form class="inline" method="post" action="/portal/payments/{{.ID}}/refund"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="idem" value="{{.Idem}}-r"><input type="hidden" name="currency" value="{{.Currency}}"><input class="amt" type="text" name="amount" value="{{.Refundable}}" aria-label="Refund amount ({{.Currency}})" inputmode="decimal"><button type="submit">Refund</button></form>{{end}}
</td></tr>
{{end}}</tbody></table>
{{if .Next}}<p><a href="/portal/?{{.Next}}">Next page →</a></p>{{end}}
{{end}}
</div>
{{/* Payment links (pay-by-link, /v1/links) get their section here: a
     "links" block listing each link with its status, next to the orders. */}}
{{block "links" .}}{{end}}
{{end}}
</main></body></html>
`))
