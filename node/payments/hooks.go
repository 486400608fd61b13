package payments

import (
	"context"

	"github.com/tillgate/tillgate/store"
)

// What other parts of the node build on the API with (node/webhooks,
// node/portal): kept here, apart from the API's own files.

// CurrencyAlpha is the ISO 4217 alpha code the API shows for a numeric one
// (the numeric itself when the API does not know it).
func CurrencyAlpha(numeric string) string { return currencyAlpha(numeric) }

type merchantKey struct{}

// AsMerchant is ctx carrying a merchant an in-process caller (the portal)
// has authenticated itself: a request with it needs no Authorization
// header. A remote client cannot set a context value, so this opens no door.
func AsMerchant(ctx context.Context, m *store.Merchant) context.Context {
	return context.WithValue(ctx, merchantKey{}, m)
}

func merchantOf(ctx context.Context) *store.Merchant {
	m, _ := ctx.Value(merchantKey{}).(*store.Merchant)
	return m
}
