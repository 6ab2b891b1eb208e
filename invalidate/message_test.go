package invalidate

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in    string
		want  Message
		field string // "" for success
	}{
		{`{"urls":["/a","https://x.test/b?page=2"]}`, Message{URLs: []string{"/a", "https://x.test/b?page=2"}}, ""},
		{`{"tags":["event-42"],"prefixes":["/events/"],"all":false,"hard":true}`,
			Message{Tags: []string{"event-42"}, Prefixes: []string{"/events/"}, Hard: true}, ""},
		{` {"all":true} ` + "\n", Message{All: true}, ""},
		{`{"all":true,"urls":null,"tags":[]}`, Message{All: true, Tags: []string{}}, ""},

		{``, Message{}, "body"},
		{`null`, Message{}, "body"},
		{`{}`, Message{}, "body"},
		{`{"all":false}`, Message{}, "body"},
		{`{"tags":[]}`, Message{}, "body"},
		{`[1]`, Message{}, "body"},
		{`"x"`, Message{}, "body"},
		{`{"all":true} {"all":true}`, Message{}, "body"},
		{`{"all":true} x`, Message{}, "body"},
		{`{"all":true`, Message{}, "body"},
		{`{"URLs":["/a"]}`, Message{}, "URLs"},
		{`{"urls":["/a"],"purge":true}`, Message{}, "purge"},
		{`{"` + strings.Repeat("é", 40) + `":1}`, Message{}, strings.Repeat("é", 32)},
		{`{"urls":"/a"}`, Message{}, "urls"},
		{`{"urls":[1]}`, Message{}, "urls"},
		{`{"urls":["/a",""]}`, Message{}, "urls[1]"},
		{`{"urls":["/a\u0000b"]}`, Message{}, "urls[0]"},
		{`{"urls":["/a\nb"]}`, Message{}, "urls[0]"},
		{`{"prefixes":["/ok","/\u007f"]}`, Message{}, "prefixes[1]"},
		{`{"tags":["a b"]}`, Message{}, "tags[0]"},
		{`{"tags":["x","a,b"]}`, Message{}, "tags[1]"},
		{`{"tags":["` + strings.Repeat("t", 257) + `"]}`, Message{}, "tags[0]"},
		{`{"urls":["/` + strings.Repeat("u", 5000) + `"]}`, Message{}, "urls[0]"},
		{`{"all":"yes"}`, Message{}, "all"},
		{`{"hard":1,"all":true}`, Message{}, "hard"},
		{"{\"urls\":[\"/\xff\"]}", Message{}, "body"},
		{`{"urls":["/\ud800"]}`, Message{URLs: []string{"/\ufffd"}}, ""}, // a lone surrogate escape decodes to U+FFFD
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if tt.field == "" {
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%.60s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%.60s) = %+v, %v; want an error naming %s", tt.in, got, err, tt.field)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	many := make([]string, MaxItems+1)
	for i := range many {
		many[i] = "t"
	}
	b, _ := json.Marshal(Message{Tags: many[:MaxItems]})
	if _, err := Decode(b); err != nil {
		t.Fatalf("%d items: %v", MaxItems, err)
	}
	b, _ = json.Marshal(Message{Tags: many[:MaxItems/2], URLs: many[:MaxItems/2+1]})
	var fe *FieldError
	if _, err := Decode(b); !errors.As(err, &fe) || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("%d items: %v", MaxItems+1, err)
	}
	big := `{"tags":["` + strings.Repeat("t", MaxMessageBytes) + `"]}`
	if _, err := Decode([]byte(big)); !errors.As(err, &fe) || fe.Field != "body" {
		t.Fatalf("oversize: %v", err)
	}
}

// FuzzDecode: Decode never panics; whatever it accepts names something,
// respects the limits, and survives a round trip through JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"urls":["/a","https://x.test/b?page=2"],"tags":["event-42"]}`,
		`{"prefixes":["/events/"],"hard":true}`,
		`{"all":true}`,
		`{"urls":["/../etc/passwd"]}`,
		`{"urls":["/%2e%2e/x"],"prefixes":["/a/%2F"]}`,
		`{"tags":["a b"]}`,
		`{"URLs":["/a"]}`,
		`{"all":true} trailing`,
		`null`,
		`[]`,
		"{\"urls\":[\"/\xff\"]}",
		`{"urls":["/a"],"urls":["/b"]}`,
	} {
		f.Add([]byte(s))
	}
	n := testNormalizer(f)
	svc := &Service{Keys: n, Index: emptyIndex{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if m.Empty() || len(m.URLs)+len(m.Prefixes)+len(m.Tags) > MaxItems {
			t.Fatalf("accepted %+v", m)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(normal(m), normal(m2)) {
			t.Fatalf("round trip: %+v → %s → %+v, %v", m, again, m2, err)
		}
		// Resolution normalises like requests: every key it yields is a
		// clean path (no dot segments, no backslash, no control byte).
		keys, _, err := svc.resolve(t.Context(), m)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("resolve error not ErrMalformed: %v", err)
			}
			return
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "/") || strings.Contains(k, "/../") || strings.Contains(k, "/./") ||
				strings.HasSuffix(k, "/..") || strings.ContainsAny(k, "\\\x00\n") {
				t.Fatalf("resolved to an unclean key %q", k)
			}
		}
	})
}

// normal maps empty lists to nil (JSON omits them).
func normal(m Message) Message {
	for _, l := range []*[]string{&m.URLs, &m.Prefixes, &m.Tags} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return m
}
