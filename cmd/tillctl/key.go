package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type keyCommand struct{ g *globals }

func (c *keyCommand) Usage() string {
	return `usage: tillctl key status
       tillctl key rotate ID
       tillctl key retire ID

Card keys. Card numbers are sealed under the key that seals (key 1, the
card_key_file, until a rotation); the keyed hash of cards (stand-in
velocity, the negative list) has its own key, which never rotates.

status shows which key seals, every key with the records sealed under it
(key 1's include the legacy ones, sealed before key ids), whether the
answering node holds it (its check value), and the re-seal's progress.

rotate makes key ID (2-255) the key that seals. First write ID.key (64 hex
characters, mode 0600: tillgate keygen DIR/ID.key, then copy the same file)
into card_key_dir on every node; the leader asks every node whether it
holds the same key and refuses otherwise. The active then re-seals every
card under it, in batches through the log, carrying on after a failover.

retire retires a key once no record is sealed under it (status shows 0):
cards sealed under it no longer open anywhere, and it never seals again.
Its file may then be removed (key 1's file stays: it is the hash key).

Writes go to the leader.

Flags:
` + globalsUsage
}

func (c *keyCommand) Run(ctx context.Context, args []string) error {
	pos, err := c.g.parse("key", args, nil)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want 'key status|rotate ID|retire ID'")
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var st adminapi.KeyStatus
	switch {
	case pos[0] == "status" && len(pos) == 1:
		err = p.read(ctx, func(cl *adminapi.Client) (err error) { st, err = cl.Keys(ctx); return err })
	case (pos[0] == "rotate" || pos[0] == "retire") && len(pos) == 2:
		id, perr := strconv.Atoi(pos[1])
		if perr != nil || id < 1 || id > 255 {
			return usagef("key %s %q: want a key id, 1 to 255", pos[0], pos[1])
		}
		err = p.write(ctx, func(cl *adminapi.Client) (err error) {
			if pos[0] == "rotate" {
				st, err = cl.RotateKey(ctx, uint8(id))
			} else {
				st, err = cl.RetireKey(ctx, uint8(id))
			}
			return err
		})
	default:
		return usagef("want 'key status', 'key rotate ID' or 'key retire ID'")
	}
	if err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(st)
	}
	return c.print(st)
}

func (c *keyCommand) print(st adminapi.KeyStatus) error {
	var rows [][]string
	for _, k := range st.Keys {
		state := ""
		switch {
		case k.Sealing:
			state = "sealing"
		case k.Retired:
			state = "retired"
		}
		check := k.Check
		if !k.Loaded {
			check = "(not held by " + st.Node + ")"
		}
		rows = append(rows, []string{strconv.Itoa(int(k.ID)), state, strconv.FormatInt(k.Records, 10), check})
	}
	if err := table(c.g.out, "KEY\tSTATE\tRECORDS\tCHECK", rows); err != nil {
		return err
	}
	reseal := "done"
	if st.Resealing {
		reseal = fmt.Sprintf("under way (cursor %d)", st.Cursor)
	}
	rotated := "never"
	if st.RotatedAt != nil {
		rotated = st.RotatedAt.Format(time.RFC3339)
	}
	_, err := fmt.Fprintf(c.g.out, "sealing: key %d (rotated %s); legacy records (key 1, no key id): %d; re-seal: %s\nhash key check: %s (node %s)\n",
		st.Sealing, rotated, st.LegacyRecords, reseal, st.HashCheck, st.Node)
	return err
}
