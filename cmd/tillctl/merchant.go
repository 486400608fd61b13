package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type merchantCommand struct{ g *globals }

func (c *merchantCommand) Usage() string {
	return `usage: tillctl merchant add ID [--name NAME] [--key-name NAME] [--key KEY]
       tillctl merchant webhook ID URL [--secret SECRET]
       tillctl merchant webhook ID off
       tillctl merchant list

A card-not-present merchant calls the payments API (api_addr) with an API
key: Authorization: Bearer KEY. add records the merchant with its first key
and prints the virtual terminal (DE41) and merchant number (DE42) its
payments carry. Without --key a random key is made and printed once: only
its SHA-256 goes to the cluster, which cannot show it again. A write: it
goes to the leader. list shows every merchant and its keys' names.

webhook sets the URL every payment event of the merchant is posted to,
signed with HMAC-SHA256 (header Tillgate-Signature: t=UNIX,v1=HEX over
"UNIX.BODY"; see README, "Merchant notification"). Without --secret a
random secret is made and printed once. "off" removes the webhook and
drops the events still queued for it.

Flags:
` + globalsUsage
}

func (c *merchantCommand) Run(ctx context.Context, args []string) error {
	var name, keyName, key, secret string
	pos, err := c.g.parse("merchant", args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "add: the merchant's name, shown to customers (default: the id)")
		fs.StringVar(&keyName, "key-name", "default", "add: the API key's name")
		fs.StringVar(&key, "key", "", "add: the API key (default: a random one, printed once)")
		fs.StringVar(&secret, "secret", "", "webhook: the signing secret, 16-256 bytes (default: a random one, printed once)")
	})
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "list":
	case len(pos) == 2 && pos[0] == "add":
	case len(pos) == 3 && pos[0] == "webhook":
	default:
		return usagef("want 'merchant add ID', 'merchant webhook ID URL|off' or 'merchant list'")
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	if pos[0] == "list" {
		var ms adminapi.Merchants
		if err := p.read(ctx, func(cl *adminapi.Client) (err error) { ms, err = cl.Merchants(ctx); return err }); err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.g.json(ms)
		}
		return merchantTable(c.g, ms.Merchants)
	}
	if pos[0] == "webhook" {
		return c.webhook(ctx, p, pos[1], pos[2], secret)
	}
	printKey := key == ""
	if printKey {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("merchant add: random key: %w", err)
		}
		key = "sk_" + hex.EncodeToString(b)
	}
	if name == "" {
		name = pos[1]
	}
	h := sha256.Sum256([]byte(key))
	req := adminapi.MerchantAdd{ID: pos[1], Name: name, KeyName: keyName, KeyHash: hex.EncodeToString(h[:])}
	var m adminapi.Merchant
	if err := p.write(ctx, func(cl *adminapi.Client) (err error) { m, err = cl.AddMerchant(ctx, req); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		if printKey {
			return c.g.json(struct {
				adminapi.Merchant
				Key string `json:"key"`
			}{m, key})
		}
		return c.g.json(m)
	}
	if err := merchantTable(c.g, []adminapi.Merchant{m}); err != nil {
		return err
	}
	if printKey {
		fmt.Fprintf(c.g.out, "\nAPI key (shown once, keep it): %s\n", key)
	}
	return nil
}

func merchantTable(g *globals, ms []adminapi.Merchant) error {
	var rows [][]string
	for _, m := range ms {
		hook := m.Webhook
		if hook == "" {
			hook = "-"
		} else if m.WebhookQueued > 0 {
			hook += fmt.Sprintf(" (%d queued)", m.WebhookQueued)
		}
		rows = append(rows, []string{m.ID, m.Name, m.Terminal, m.MID, strings.Join(m.Keys, ","), hook, m.CreatedAt.Format(time.RFC3339)})
	}
	return table(g.out, "ID\tNAME\tTERMINAL\tMERCHANT NUMBER\tKEYS\tWEBHOOK\tCREATED", rows)
}

// webhook sets or removes merchant id's webhook.
func (c *merchantCommand) webhook(ctx context.Context, p *pool, id, target, secret string) error {
	req := adminapi.MerchantWebhook{URL: target}
	printSecret := false
	switch {
	case target == "off":
		req.URL = ""
	case secret != "":
		req.Secret = secret
	default:
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("merchant webhook: random secret: %w", err)
		}
		req.Secret, printSecret = "whsec_"+hex.EncodeToString(b), true
	}
	var m adminapi.Merchant
	if err := p.write(ctx, func(cl *adminapi.Client) (err error) { m, err = cl.SetMerchantWebhook(ctx, id, req); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		if printSecret {
			return c.g.json(struct {
				adminapi.Merchant
				Secret string `json:"webhook_secret"`
			}{m, req.Secret})
		}
		return c.g.json(m)
	}
	if err := merchantTable(c.g, []adminapi.Merchant{m}); err != nil {
		return err
	}
	if printSecret {
		fmt.Fprintf(c.g.out, "\nWebhook secret (shown once, keep it): %s\n", req.Secret)
	}
	return nil
}
