package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kubernetes limits on the names this package writes.
const (
	maxObjectName = 63 // a DNS-1035 label: Service names, and the label value app=NAME
	maxPortName   = 15 // IANA_SVC_NAME (RFC 6335)
	hashLen       = 5  // hex digits of the suffix that marks a truncated name
)

// objectName joins parts with "-" into a Kubernetes object name that is a
// DNS-1035 label, the strictest rule among the kinds written here (Services):
// lowercase letters, digits and "-", starting with a letter, at most 63
// characters. Every other rune becomes "-" (so "web_api" is "web-api" and
// "Shop" is "shop"). A name that starts with a digit gets "cluster-" in
// front; a longer one is cut and ends in a hash of the parts as written, so
// it stays unique and the same from one export to the next.
func objectName(parts ...string) string {
	joined := strings.Join(parts, "-")
	s := dnsChars(joined)
	if s == "" {
		s = "cluster"
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "cluster-" + s
	}
	return truncate(s, joined, maxObjectName)
}

// portName is a container or Service port name: an IANA_SVC_NAME, at most 15
// lowercase letters, digits and single "-" inside, with at least one letter.
func portName(parts ...string) string {
	joined := strings.Join(parts, "-")
	s := dnsChars(joined)
	if !strings.ContainsFunc(truncate(s, joined, maxPortName), func(r rune) bool { return r >= 'a' && r <= 'z' }) {
		s = strings.Trim("p-"+s, "-")
	}
	return truncate(s, joined, maxPortName)
}

// dnsChars lowercases s, turns every run of other characters than [a-z0-9]
// into one "-", and trims "-" at both ends.
func dnsChars(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// truncate cuts s to max characters, ending it in "-" and a hash of the
// original so two long names that share a prefix stay apart.
func truncate(s, original string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(original))
	h := hex.EncodeToString(sum[:])[:hashLen]
	return strings.TrimRight(s[:max-hashLen-1], "-") + "-" + h
}

// names records which process type asked for each name of one kind (Service
// names, port names in one container, systemd units), so that two types that map to the
// same name are an error that names both.
type names struct {
	kind  string            // "Kubernetes Service name", "systemd unit"
	owner map[string]string // name -> the type (or "the runner's health port")
	errs  []string
}

func newNames(kind string) *names { return &names{kind: kind, owner: map[string]string{}} }

// add records name for owner, and reports a collision with an earlier owner.
func (n *names) add(name, owner string) {
	if prev, ok := n.owner[name]; ok && prev != owner {
		n.errs = append(n.errs, fmt.Sprintf("%s and %s both become the %s %q: rename one", prev, owner, n.kind, name))
		return
	}
	n.owner[name] = owner
}

func (n *names) err() error {
	if len(n.errs) == 0 {
		return nil
	}
	sort.Strings(n.errs)
	return errors.New(strings.Join(n.errs, "\n"))
}
