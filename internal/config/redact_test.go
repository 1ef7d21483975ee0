package config

import (
	"errors"
	"strings"
	"testing"
)

// TestRedactErrorMasksWholeValues: a secret is masked where it stands as a
// value, never inside another word. With a one-character password the old
// substring replacement turned "property" into "propertxxxxx" (and every
// other y of the text too).
func TestRedactErrorMasksWholeValues(t *testing.T) {
	for _, tt := range []struct {
		name, uri, text, want string
	}{
		{
			name: "the issue's case",
			uri:  "mongodb://app:y@db/",
			text: `unknown property "readPreferenceTags" for user app`,
			want: `unknown property "readPreferenceTags" for user app`,
		},
		{
			name: "one-character password quoted by the driver",
			uri:  "mongodb://app:y@db/",
			text: `auth error: sasl conversation error: unable to authenticate using mechanism "SCRAM-SHA-256": (AuthenticationFailed) Authentication failed for password "y", yes really`,
			want: `auth error: sasl conversation error: unable to authenticate using mechanism "SCRAM-SHA-256": (AuthenticationFailed) Authentication failed for password "xxxxx", yes really`,
		},
		{
			name: "userinfo echoed",
			uri:  "mongodb://app:y@db/",
			text: "cannot dial app:y@db:27017 (y)",
			want: "cannot dial app:xxxxx@db:27017 (xxxxx)",
		},
		{
			name: "the whole URI echoed, then the value alone",
			uri:  "mongodb://app:y@db/?w=majority",
			text: "error parsing uri mongodb://app:y@db/?w=majority: y, majority",
			want: "error parsing uri mongodb://app:xxxxx@db/?w=majority: xxxxx, majority",
		},
		{
			name: "a value of mechanism properties inside a list",
			uri:  "mongodb://db/?authMechanismProperties=SERVICE_NAME:s,AWS_SESSION_TOKEN:t",
			text: `invalid authMechanismProperties "SERVICE_NAME:s,AWS_SESSION_TOKEN:t": tokens must be set`,
			want: `invalid authMechanismProperties "xxxxx": tokens must be set`,
		},
		{
			name: "value at the start and end of the text",
			uri:  "mongodb://app:hunter2@db/",
			text: "hunter2 was refused; hunter22 and xhunter2 are other words; hunter2",
			want: "xxxxx was refused; hunter22 and xhunter2 are other words; xxxxx",
		},
		{
			name: "a secret ending in punctuation is masked wherever it is",
			uri:  "mongodb://app:pw%21@db/",
			text: "password pw!x refused",
			want: "password xxxxxx refused",
		},
		{
			name: "a quote in a secret as %q shows it",
			uri:  `mongodb://app:a%22b@db/`,
			text: `authentication failed: password "a\"b"`,
			want: `authentication failed: password "xxxxx"`,
		},
		{
			name: "non-ASCII letters are letters",
			uri:  "mongodb://app:é@db/",
			text: "café: é",
			want: "café: xxxxx",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := errors.New("cause")
			err := RedactError(errors.Join(errors.New(tt.text), base), tt.uri)
			got, _, _ := strings.Cut(err.Error(), "\n")
			if got != tt.want {
				t.Errorf("RedactError(%q)\n = %q\nwant %q", tt.text, got, tt.want)
			}
			if !errors.Is(err, base) {
				t.Error("the redacted error no longer wraps its cause")
			}
		})
	}
}
