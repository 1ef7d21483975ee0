package config

import (
	"log/slog"
	"strings"
)

// The range of POSTPIPE_RATE_LIMIT and POSTPIPE_RATE_BURST. Below one
// request a day a key is as good as off, and waits that long are announced
// as at most an hour anyway; above a million a second (or a burst of a
// million) the limit is no limit.
const (
	MinRateLimit = 1.0 / 86400
	MaxRateLimit = 1e6
	MaxRateBurst = 1_000_000
)

// Keys is the API keys file: it guards the API and, in every role, the
// admin listener (so 'postpipe sink' has it too).
type Keys struct {
	// APIKeysFile, when set, makes every path but AuthExempt need a key
	// listed in it ("name:sha256-hex" lines).
	APIKeysFile string
}

func (s *Keys) register(fs *flagSet) {
	fs.StringVar(&s.APIKeysFile, "api-keys-file", s.APIKeysFile, "file of API keys ('name:sha256-hex' lines, see 'postpipe apikey'); set: requests to the API and the admin listener need Authorization: Bearer <key>")
}

func (s Keys) validate(badFunc) {}

func (s Keys) attrs() []slog.Attr { return []slog.Attr{slog.String("api_keys_file", s.APIKeysFile)} }

// Auth is who may use the API and how often.
type Auth struct {
	AuthExempt []string
	// RateLimit is requests per second per API key (per client, an IPv4
	// address or an IPv6 /64, without keys); 0 is off.
	RateLimit float64
	RateBurst int
}

func defaultAuth() Auth { return Auth{AuthExempt: []string{"/healthz", "/readyz"}, RateBurst: 50} }

func (s *Auth) register(fs *flagSet) {
	fs.Var((*listValue)(&s.AuthExempt), "auth-exempt", "comma-separated paths served without a key when keys are on (',' for none)")
	fs.Float64Var(&s.RateLimit, "rate-limit", s.RateLimit, "requests per second per API key (per client without keys: an IPv4 address or an IPv6 /64); 0: no limit")
	fs.IntVar(&s.RateBurst, "rate-burst", s.RateBurst, "requests a client may send at once above the rate limit")
}

func (s Auth) validate(bad badFunc) {
	for _, p := range s.AuthExempt {
		if !strings.HasPrefix(p, "/") {
			bad("POSTPIPE_AUTH_EXEMPT", "%q is not a path (must start with /)", p)
		}
	}
	// NaN fails both comparisons, so it is refused too.
	if s.RateLimit != 0 && !(s.RateLimit >= MinRateLimit && s.RateLimit <= MaxRateLimit) {
		bad("POSTPIPE_RATE_LIMIT", "must be 0 (off) or requests per second from %g (one a day) to %g, got %v", MinRateLimit, MaxRateLimit, s.RateLimit)
	}
	if s.RateLimit > 0 && (s.RateBurst < 1 || s.RateBurst > MaxRateBurst) {
		bad("POSTPIPE_RATE_BURST", "must be from 1 to %d, got %d", MaxRateBurst, s.RateBurst)
	}
}

func (s Auth) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("auth_exempt", strings.Join(s.AuthExempt, ",")),
		slog.Float64("rate_limit", s.RateLimit),
		slog.Int("rate_burst", s.RateBurst),
	}
}
