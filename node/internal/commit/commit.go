// Package commit reads what the state machine made of a command that Raft
// committed (cluster.Cluster.Apply's result).
package commit

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
)

// Err is the state machine's refusal of a committed command (nil when it
// took it), or an error for a result that is not the store's.
func Err(res any) error {
	if r, ok := res.(store.Result); ok {
		return r.Err
	}
	return errors.New("unexpected state machine result")
}

// Refused logs a command the state machine refused. A store that could not
// commit (store.ErrFailed) has stopped applying while Raft goes on: fail
// then stops the node too, so that it does not answer from a replica that
// no longer follows the log.
func Refused(log *slog.Logger, fail func(error), what, id string, err error) {
	log.Error(what+" rejected by the state machine", logkey.Txn, id, logkey.Err, err)
	if errors.Is(err, store.ErrFailed) {
		fail(fmt.Errorf("node: state machine stopped: %w", err))
	}
}
