package config

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// mask replaces every credential RedactURI finds.
const mask = "xxxxx"

// unparseable is what RedactURI shows for a URI it cannot take apart with
// certainty: better nothing than a password where a host was expected.
const unparseable = "(unparseable URI)"

// RedactURI masks every credential in a connection URI (mongodb://,
// mongodb+srv://, postgres://…) so it can be logged or shown in an error:
// the userinfo password, every value of authMechanismProperties (an AWS
// session token travels there) and the value of any option whose name
// suggests a secret (tlsCertificateKeyFilePassword, sslClientCertificateKeyPassword,
// sessionToken, clientSecret…). Whatever cannot be taken apart with
// certainty (no scheme, a second '@', a bad %-escape, control characters)
// is shown as "(unparseable URI)".
func RedactURI(raw string) string {
	p, ok := parseURI(raw)
	if !ok {
		return unparseable
	}
	return p.redacted()
}

// RedactError returns err with every credential of uri masked in its text:
// drivers echo parts of a URI they refuse (the MongoDB driver quotes an
// option value it cannot unescape, say). The error still unwraps to err, so
// errors.Is keeps working; only its text changes.
func RedactError(err error, uri string) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, msg: redactText(err.Error(), uri)}
}

type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactText masks in s every credential of uri, raw and unescaped. When the
// URI cannot be taken apart its credentials are unknown, so s is replaced
// altogether unless it contains no part of the URI after the scheme.
func redactText(s, uri string) string {
	p, ok := parseURI(uri)
	if !ok {
		rest := uri
		if _, after, found := strings.Cut(uri, "://"); found {
			rest = after
		}
		for _, tok := range strings.FieldsFunc(rest, func(r rune) bool { return strings.ContainsRune("@:/?&;=,", r) }) {
			if strings.Contains(s, tok) {
				return "error text hidden: the URI is malformed and its text may hold credentials"
			}
		}
		return s
	}
	s = strings.ReplaceAll(s, uri, p.redacted())
	return maskValues(s, p.secrets())
}

// maskValues masks in s every occurrence of a secret that stands as a
// value of its own, not inside another word: a one-character password "y"
// must not turn "property" into "propertxxxxx". An occurrence is taken
// unless it would glue onto a letter or digit on either side while the
// secret's own edge there is one too (the rule of a regexp's \b). Drivers
// quote or delimit the values they echo ("y", user:y@host, =y&, y, …), so
// a value is still masked there; it would be shown only where the text
// glues it to letters or digits, which is a different word. A secret that
// starts or ends with punctuation is masked wherever it occurs. Where
// secrets overlap the longest wins, in one pass, so no mask is masked
// again.
func maskValues(s string, secrets []string) string {
	if len(secrets) == 0 {
		return s
	}
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); i++ {
		for _, sec := range secrets {
			if strings.HasPrefix(s[i:], sec) && standsAlone(s, i, i+len(sec)) {
				b.WriteString(s[done:i])
				b.WriteString(mask)
				done = i + len(sec)
				i = done - 1
				break
			}
		}
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// standsAlone reports whether s[i:j] is not part of a longer word: the
// character before it and its first one are not both letters or digits,
// nor its last one and the character after it.
func standsAlone(s string, i, j int) bool {
	if i > 0 {
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		first, _ := utf8.DecodeRuneInString(s[i:j])
		if isWordRune(before) && isWordRune(first) {
			return false
		}
	}
	if j < len(s) {
		after, _ := utf8.DecodeRuneInString(s[j:])
		last, _ := utf8.DecodeLastRuneInString(s[i:j])
		if isWordRune(after) && isWordRune(last) {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// uriParts is a URI taken apart the way the MongoDB driver does it: the
// userinfo ends at the first '@', the hosts at the first '/' or '?', the
// options are '&'- or ';'-separated name=value pairs.
type uriParts struct {
	scheme, user, password string
	hasPassword            bool
	hosts, path            string
	hasQuery               bool
	options                []option
}

type option struct {
	name, value string
	hasValue    bool
}

func parseURI(raw string) (uriParts, bool) {
	var p uriParts
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !validScheme(scheme) || !validEscapes(raw) {
		return p, false
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return p, false
		}
	}
	p.scheme = scheme
	// A second '@' means a password with an unescaped '@' (or a query value
	// with one, which the driver refuses without a userinfo anyway): where
	// the password ends is a guess, so show nothing.
	if strings.Count(rest, "@") > 1 {
		return p, false
	}
	if userinfo, after, found := strings.Cut(rest, "@"); found {
		// An unescaped '/' or '?' in the userinfo: the split above may
		// have cut a password in two.
		if strings.ContainsAny(userinfo, "/?#") {
			return p, false
		}
		p.user, p.password, p.hasPassword = strings.Cut(userinfo, ":")
		rest = after
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	p.hosts, rest = rest[:end], rest[end:]
	if p.hosts == "" {
		return p, false
	}
	p.path, rest, p.hasQuery = strings.Cut(rest, "?")
	if p.hasQuery {
		for _, pair := range strings.FieldsFunc(rest, func(r rune) bool { return r == '&' || r == ';' }) {
			name, value, hasValue := strings.Cut(pair, "=")
			p.options = append(p.options, option{name: name, value: value, hasValue: hasValue})
		}
	}
	return p, true
}

func (p uriParts) redacted() string {
	var b strings.Builder
	b.WriteString(p.scheme + "://")
	if p.user != "" || p.hasPassword {
		b.WriteString(p.user)
		if p.hasPassword {
			b.WriteString(":" + mask)
		}
		b.WriteByte('@')
	}
	b.WriteString(p.hosts)
	b.WriteString(p.path)
	if p.hasQuery {
		b.WriteByte('?')
		for i, o := range p.options {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(o.name)
			if o.hasValue {
				b.WriteString("=" + o.redactedValue())
			}
		}
	}
	return b.String()
}

// secrets are the credentials of p as they may appear in an error text:
// as written and unescaped.
func (p uriParts) secrets() []string {
	var raw []string
	if p.hasPassword {
		raw = append(raw, p.password)
	}
	for _, o := range p.options {
		switch {
		case isMechanismProperties(o.name):
			raw = append(raw, o.value)
			for _, prop := range strings.Split(unescape(o.value), ",") {
				if _, v, ok := strings.Cut(prop, ":"); ok {
					raw = append(raw, v)
				}
			}
		case secretName(o.name):
			raw = append(raw, o.value)
		}
	}
	var out []string
	for _, s := range raw {
		for _, v := range []string{s, unescape(s)} {
			if v == "" {
				continue
			}
			out = append(out, v)
			// As %q shows it (the driver quotes what it refuses): a '"'
			// or '\\' in a secret comes out escaped.
			if q := strconv.Quote(v); q[1:len(q)-1] != v {
				out = append(out, q[1:len(q)-1])
			}
		}
	}
	return out
}

func (o option) redactedValue() string {
	switch {
	case isMechanismProperties(o.name):
		// "SERVICE_NAME:mongodb,AWS_SESSION_TOKEN:…": the property names
		// help, any value may be a credential.
		props := strings.Split(unescape(o.value), ",")
		for i, prop := range props {
			if k, _, ok := strings.Cut(prop, ":"); ok {
				props[i] = url.QueryEscape(k) + ":" + mask
			} else {
				props[i] = mask
			}
		}
		return strings.Join(props, ",")
	case secretName(o.name):
		return mask
	}
	return o.value
}

func isMechanismProperties(name string) bool {
	return strings.EqualFold(unescape(name), "authMechanismProperties")
}

// secretName reports whether an option's name suggests its value is a
// credential.
func secretName(name string) bool {
	n := strings.ToLower(unescape(name))
	for _, w := range []string{"password", "passwd", "pwd", "secret", "token", "credential", "apikey", "api_key", "privatekey", "private_key"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// validEscapes reports whether every '%' starts a two-digit hex escape.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// RedactArgs returns a command line with its secrets masked, for showing it
// (the admin listener's /debug/pprof/cmdline): the value of a flag whose
// name suggests a secret (--kafka-sasl-password) is masked, a URI-valued
// flag (--mongodb-uri) and any argument holding "://" go through RedactURI.
// Both --name=value and --name value forms are understood.
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	var pending string // the flag whose value is the next argument
	for i, a := range args {
		if pending != "" {
			out[i], pending = redactFlagValue(pending, a), ""
			continue
		}
		name, value, hasValue := "", "", false
		if strings.HasPrefix(a, "-") && a != "-" && a != "--" {
			name, value, hasValue = strings.Cut(strings.TrimLeft(a, "-"), "=")
		}
		switch {
		case name != "" && hasValue:
			out[i] = a[:len(a)-len(value)] + redactFlagValue(name, value)
		case name != "" && (secretName(name) || uriName(name)):
			out[i], pending = a, name
		case strings.Contains(a, "://"):
			out[i] = RedactURI(a)
		default:
			out[i] = a
		}
	}
	return out
}

func redactFlagValue(name, value string) string {
	switch {
	case secretName(name):
		return mask
	case uriName(name) || strings.Contains(value, "://"):
		return RedactURI(value)
	}
	return value
}

func uriName(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, "uri") || strings.HasSuffix(n, "url")
}
