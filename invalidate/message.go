package invalidate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of one message.
const (
	// MaxMessageBytes is the largest encoded message accepted.
	MaxMessageBytes = 1 << 20
	// MaxItems is the most URLs, prefixes and tags one message may name
	// together.
	MaxItems = 10000
	// maxURLBytes bounds one URL or prefix (the key normaliser bounds the
	// normalised form further).
	maxURLBytes = 4096
	// maxTagBytes bounds one tag, as the tag headers' parser does.
	maxTagBytes = 256
)

// Message is one invalidation, whichever way it came in (admin API, the
// edge invalidate command, a queue): the pages named by URLs, the pages
// whose keys start with one of Prefixes, the pages carrying one of Tags,
// or every page (All). Soft by default: the pages are marked stale and
// regenerated in the background while the current copies are served. Hard
// deletes them instead. It is a plain value.
type Message struct {
	URLs     []string `json:"urls,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	All      bool     `json:"all,omitempty"`
	Hard     bool     `json:"hard,omitempty"`
}

// Empty reports whether m names no page at all.
func (m Message) Empty() bool {
	return len(m.URLs) == 0 && len(m.Prefixes) == 0 && len(m.Tags) == 0 && !m.All
}

// ErrMalformed is wrapped by every error about the content of a message
// (an API client gets a 400, a queued message goes to the dead letters).
var ErrMalformed = errors.New("invalidate: malformed message")

// FieldError is a malformed message, naming the field at fault ("urls[3]",
// "tags", "body" for the message as a whole). It wraps ErrMalformed and the
// cause.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return "invalidate: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns ErrMalformed and the cause.
func (e *FieldError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Decode parses an encoded message strictly: a JSON object with only the
// fields urls, prefixes, tags (lists of strings), all and hard (booleans),
// spelled exactly so; nothing after it; at most MaxMessageBytes and
// MaxItems; every string non-empty, valid UTF-8 and free of control
// characters; tags without spaces or commas (they could never match, since
// the tag headers split on them). It does not normalise URLs or prefixes:
// Service does that with the key rules. Errors are *FieldError.
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) > MaxMessageBytes {
		return m, fieldErr("body", "larger than %d bytes", MaxMessageBytes)
	}
	if !utf8.Valid(data) { // encoding/json would quietly replace the bad bytes
		return m, fieldErr("body", "not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return m, fieldErr("body", "must be a JSON object")
		}
		return m, fieldErr("body", "not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, fieldErr("body", "unexpected data after the JSON object")
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic errors
	items := 0
	for _, name := range names {
		raw := fields[name]
		var err error
		switch name {
		case "urls":
			m.URLs, err = decodeList(name, raw, &items, checkURL)
		case "prefixes":
			m.Prefixes, err = decodeList(name, raw, &items, checkURL)
		case "tags":
			m.Tags, err = decodeList(name, raw, &items, checkTag)
		case "all":
			err = decodeBool(name, raw, &m.All)
		case "hard":
			err = decodeBool(name, raw, &m.Hard)
		default:
			err = fieldErr(truncate(name, 64), "unknown field (want urls, prefixes, tags, all, hard)")
		}
		if err != nil {
			return Message{}, err
		}
	}
	if m.Empty() {
		return Message{}, fieldErr("body", "names no page: give urls, prefixes, tags or all")
	}
	return m, nil
}

func decodeBool(name string, raw json.RawMessage, dst *bool) error {
	if string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fieldErr(name, "must be true or false")
	}
	return nil
}

func decodeList(name string, raw json.RawMessage, items *int, check func(string) error) ([]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fieldErr(name, "must be a list of strings")
	}
	if *items += len(list); *items > MaxItems {
		return nil, fieldErr(name, "too many items: a message names at most %d URLs, prefixes and tags", MaxItems)
	}
	for i, s := range list {
		if err := check(s); err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("%s[%d]", name, i), Err: err}
		}
	}
	return list, nil
}

func checkString(s string, max int) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > max:
		return fmt.Errorf("longer than %d bytes", max)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("contains a control character")
	}
	return nil
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func checkURL(s string) error { return checkString(s, maxURLBytes) }

func checkTag(s string) error {
	if err := checkString(s, maxTagBytes); err != nil {
		return err
	}
	if strings.ContainsAny(s, " ,") {
		return errors.New("contains a space or a comma (tags are single tokens)")
	}
	return nil
}
