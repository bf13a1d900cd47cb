package apiserver

import (
	"strings"
	"testing"
)

func TestPrefixFromUserAgent(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"kubectl":                {in: "kubectl/v1.37.2 (linux/amd64) kubernetes/abc", want: "kubectl"},
		"no slash":               {in: "curl", want: "curl"},
		"empty":                  {in: "", want: ""},
		"unprintable is dropped": {in: "a\x00b\tc/1", want: "abc"},
		"cut to 128 bytes":       {in: strings.Repeat("x", 200) + "/1", want: strings.Repeat("x", 128)},
		"multi-byte runes whole": {in: strings.Repeat("x", 127) + "é/1", want: strings.Repeat("x", 127)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := prefixFromUserAgent(tt.in); got != tt.want {
				t.Errorf("prefixFromUserAgent(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestManagerOrUserAgent(t *testing.T) {
	t.Parallel()
	if got := managerOrUserAgent("mine", "kubectl/1"); got != "mine" {
		t.Errorf("with a manager: %q", got)
	}
	if got := managerOrUserAgent("", "kubectl/1"); got != "kubectl" {
		t.Errorf("without a manager: %q", got)
	}
}
