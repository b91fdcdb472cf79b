// The peer's optional last-writer-wins key-value store (flag -kv), carried by memberlist's
// LocalState and MergeRemoteState like swimcore's examples/kv_store.py carries its LwwStore.
//
// Same state, same bytes, same rule as the Python store:
//
//   - the state is a JSON array of [key, [stamp, writer, value]] sorted by key, written the way
//     Python's json.dumps writes it (", " between items, ASCII only with \uXXXX escapes, floats
//     as Python's repr prints them), so that the Go and Python copies of one store give the same
//     bytes and a test can compare them;
//   - each key keeps the entry with the largest (stamp, writer), stamps being seconds of the
//     wall clock and ties broken by the writer's name;
//   - a state that is not exactly that shape (a key, writer or value that is not a string, a
//     stamp that is not a finite number, an entry of another length, invalid UTF-8) is refused
//     as a whole and counted, nothing of it merged.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

type kvEntry struct {
	stamp  float64
	writer string
	value  string
}

// wins: whether e replaces held (a larger stamp, or the same stamp and a larger writer).
func (e kvEntry) wins(held kvEntry) bool {
	if e.stamp != held.stamp {
		return e.stamp > held.stamp
	}
	return e.writer > held.writer
}

type kvStore struct {
	mu       sync.Mutex
	owner    string
	items    map[string]kvEntry
	merged   int
	rejected int
}

func newKVStore(owner string) *kvStore {
	return &kvStore{owner: owner, items: map[string]kvEntry{}}
}

// set writes key at the wall clock's time, as this store's owner, and returns what it wrote
// (kept unless the store holds a later write).
func (s *kvStore) set(key, value string) kvEntry {
	written := kvEntry{float64(time.Now().UnixNano()) / 1e9, s.owner, value}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keep(key, written)
	return written
}

func (s *kvStore) keep(key string, e kvEntry) {
	if held, ok := s.items[key]; !ok || e.wins(held) {
		s.items[key] = e
	}
}

// state: the whole store in the shared encoding (LocalState's bytes).
func (s *kvStore) state() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.items))
	for k := range s.items {
		keys = append(keys, k)
	}
	sort.Strings(keys) // byte order of UTF-8 is code point order, as Python sorts str
	var b bytes.Buffer
	b.WriteByte('[')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		e := s.items[k]
		b.WriteByte('[')
		writePyString(&b, k)
		b.WriteString(", [")
		b.WriteString(pyFloat(e.stamp))
		b.WriteString(", ")
		writePyString(&b, e.writer)
		b.WriteString(", ")
		writePyString(&b, e.value)
		b.WriteString("]]")
	}
	b.WriteByte(']')
	return b.Bytes()
}

// merge: keep each key's winner from a peer's state (MergeRemoteState), or refuse all of it.
func (s *kvStore) merge(data []byte) error {
	entries, err := parseKVState(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.rejected++
		return err
	}
	for _, kv := range entries {
		s.keep(kv.key, kv.entry)
	}
	s.merged++
	return nil
}

func (s *kvStore) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.merged, s.rejected
}

type keyedEntry struct {
	key   string
	entry kvEntry
}

func parseKVState(data []byte) ([]keyedEntry, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("state is not UTF-8")
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("state is not a JSON array: %v", err)
	}
	out := make([]keyedEntry, 0, len(rows))
	for i, row := range rows {
		var pair, fields []json.RawMessage
		if err := json.Unmarshal(row, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("row %d is not [key, entry]", i)
		}
		if err := json.Unmarshal(pair[1], &fields); err != nil || len(fields) != 3 {
			return nil, fmt.Errorf("row %d: the entry is not [stamp, writer, value]", i)
		}
		key, okKey := jsonText(pair[0])
		writer, okWriter := jsonText(fields[1])
		value, okValue := jsonText(fields[2])
		stamp, okStamp := jsonNumber(fields[0])
		if !(okKey && okWriter && okValue && okStamp) {
			return nil, fmt.Errorf("row %d: wrong types", i)
		}
		out = append(out, keyedEntry{key, kvEntry{stamp, writer, value}})
	}
	return out, nil
}

// jsonText: a JSON string (not null, which Unmarshal would turn into "" without a word) that
// spells no lone UTF-16 surrogate (Python keeps one, Go makes it U+FFFD: both refuse it).
func jsonText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' || loneSurrogate(raw) {
		return "", false
	}
	var text string
	if json.Unmarshal(raw, &text) != nil {
		return "", false
	}
	return text, true
}

// loneSurrogate: whether a JSON string has a \uXXXX surrogate escape that is not a high one
// followed at once by a low one.
func loneSurrogate(raw []byte) bool {
	unit := func(i int) (uint64, bool) { // the \uXXXX escape at raw[i:], if there is one
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		code, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return code, err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		code, ok := unit(i)
		if !ok {
			i++ // another escape: skip the escaped character (\\ is not an escape's start)
			continue
		}
		switch {
		case code >= 0xdc00 && code <= 0xdfff:
			return true
		case code >= 0xd800 && code <= 0xdbff:
			low, ok := unit(i + 6)
			if !ok || low < 0xdc00 || low > 0xdfff {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// jsonNumber: a finite JSON number (not null, true or a string).
func jsonNumber(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// pyFloat: f as Python's repr(float) prints it: the shortest digits that read back as f, in
// positional notation with at least one decimal when the decimal exponent is in -4..15, else as
// d.ddde+XX.
func pyFloat(f float64) string {
	sci := strconv.FormatFloat(f, 'e', -1, 64) // shortest digits: d.ddde±XX
	exp, err := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if err == nil && (exp < -4 || exp >= 16) {
		return sci
	}
	fixed := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(fixed, '.') {
		fixed += ".0"
	}
	return fixed
}

// writePyString: s as a JSON string the way Python's json.dumps (ensure_ascii) writes it.
func writePyString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			high, low := surrogates(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, high, low)
		}
	}
	b.WriteByte('"')
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
