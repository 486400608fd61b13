package store

import "fmt"

// AppliedIndexOf reads the applied index recorded in a state file (a backup)
// without changing it. The whole file is read first (see checkStateFile): a
// truncated or corrupt backup is an error wrapping ErrCorrupt, not a crash
// of the restore command.
func AppliedIndexOf(path string) (uint64, error) {
	applied, err := checkStateFile(path)
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w: %w", path, ErrCorrupt, err)
	}
	return applied, nil
}
