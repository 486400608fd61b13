package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// decodeError says where in the config file err (from decoding b) is: the
// key path ("raft.election_timeout") when one can be found, else the line
// and column. encoding/json names the field only for type mismatches; a
// bad duration or an unknown key would otherwise leave the operator
// searching the file.
func decodeError(b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var dur *durationError
	var key string
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("the file is empty: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: the file ends inside a value: %w", lineCol(b, int64(len(b))), err)
	case errors.As(err, &syn):
		return fmt.Errorf("%s: %w", lineCol(b, syn.Offset-1), err) // Offset is just past the bad byte
	case errors.As(err, &typ) && typ.Field != "":
		key = typ.Field
	case errors.As(err, &dur):
		key = findKey(b, func(k string, v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), dur.raw) })
		if i := bytes.Index(b, dur.raw); key == "" && i >= 0 {
			return fmt.Errorf("%s: %w", lineCol(b, int64(i)), err)
		}
	case strings.HasPrefix(err.Error(), `json: unknown field "`):
		name, _ := strings.CutSuffix(strings.TrimPrefix(err.Error(), `json: unknown field "`), `"`)
		known := configKeys(reflect.TypeFor[fileConfig](), "", map[string]bool{})
		key = findKey(b, func(k string, _ json.RawMessage) bool {
			return !known[k] && (k == name || strings.HasSuffix(k, "."+name))
		})
		if key == "" {
			key = strconv.Quote(name) // a top-level "" key has an empty path
		}
	}
	if key == "" {
		return err
	}
	return fmt.Errorf("key %s: %w", key, err)
}

// durationError is a duration value that does not parse; raw is its JSON.
type durationError struct {
	raw []byte
	err error
}

func (e *durationError) Error() string {
	return fmt.Sprintf("duration %s: %v (want a string like \"500ms\")", e.raw, e.err)
}

func (e *durationError) Unwrap() error { return e.err }

// findKey walks the objects and arrays of b's first JSON value (the
// decoder stops at the error, so data after it must not hide the key) and
// returns the dotted path of the first key whose value match accepts, or "".
func findKey(b []byte, match func(key string, v json.RawMessage) bool) string {
	var first json.RawMessage
	if json.NewDecoder(bytes.NewReader(b)).Decode(&first) == nil {
		b = first
	}
	var walk func(prefix string, v json.RawMessage) string
	walk = func(prefix string, v json.RawMessage) string {
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) == nil {
			// Map order is random: visit keys in file order so the first
			// match is the first in the file.
			for _, k := range keysInOrder(v, obj) {
				path := k
				if prefix != "" {
					path = prefix + "." + k
				}
				if match(path, obj[k]) {
					return path
				}
				if p := walk(path, obj[k]); p != "" {
					return p
				}
			}
			return ""
		}
		var arr []json.RawMessage
		if json.Unmarshal(v, &arr) == nil {
			for _, e := range arr {
				if p := walk(prefix, e); p != "" {
					return p
				}
			}
		}
		return ""
	}
	return walk("", b)
}

// keysInOrder returns obj's keys in the order they appear in v.
func keysInOrder(v json.RawMessage, obj map[string]json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(v))
	var keys []string
	seen := map[string]bool{}
	depth, expectKey := 0, false
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		d, isDelim := tok.(json.Delim)
		switch {
		case depth == 1 && expectKey && !isDelim:
			if k, ok := tok.(string); ok && !seen[k] {
				if _, in := obj[k]; in {
					seen[k] = true
					keys = append(keys, k)
				}
			}
			expectKey = false
		case isDelim && (d == '{' || d == '['):
			depth++
			expectKey = depth == 1
		case isDelim:
			depth--
			expectKey = depth == 1 // a nested value ended
		default:
			expectKey = depth == 1 // a scalar value ended
		}
	}
}

// configKeys are the dotted key paths fileConfig knows (array elements
// add no segment), to tell an unknown key from a known one of the same
// name elsewhere in the file.
func configKeys(t reflect.Type, prefix string, into map[string]bool) map[string]bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return into
	}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		into[name] = true
		configKeys(t.Field(i).Type, name, into)
	}
	return into
}

// lineCol is the 1-based line and column of byte offset off in b.
func lineCol(b []byte, off int64) string {
	off = min(max(off, 0), int64(len(b)))
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(b[:off], '\n'))
	return fmt.Sprintf("line %d col %d", line, col)
}
