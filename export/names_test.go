package export

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestExportNames(t *testing.T) {
	for _, tc := range []struct {
		parts     []string
		obj, port string
	}{
		{[]string{"web"}, "web", "web"},
		{[]string{"web_api"}, "web-api", "web-api"},
		{[]string{"MyShop", "Web_API"}, "myshop-web-api", "myshop-web-api"},
		{[]string{"__a__", "b"}, "a-b", "a-b"},
		{[]string{"2048"}, "cluster-2048", "p-2048"},
		{[]string{""}, "cluster", "p"},
		{[]string{"Café Shop!"}, "caf-shop", "caf-shop"},
		{[]string{"web", "1"}, "web-1", "web-1"},
		{[]string{"notifications_sender", "1"}, "notifications-sender-1", "notificat-"},
	} {
		obj, port := objectName(tc.parts...), portName(tc.parts...)
		if obj != tc.obj {
			t.Errorf("objectName(%q) = %q, want %q", tc.parts, obj, tc.obj)
		}
		if port != tc.port && !(strings.HasSuffix(tc.port, "-") && strings.HasPrefix(port, tc.port) && len(port) == 15) {
			t.Errorf("portName(%q) = %q, want %q", tc.parts, port, tc.port)
		}
	}
}

// FuzzExportNames: whatever a cluster or type is called, the names are
// valid, and two long names that share a prefix stay apart.
func FuzzExportNames(f *testing.F) {
	for _, s := range []string{"web", "web_api", "WEB", "2048", "", "-", "__", "é", "on", "1e3", strings.Repeat("x", 70), strings.Repeat("9", 70), "a--b", "health"} {
		f.Add(s, s+"2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range []string{a, b} {
			if errs := validation.IsDNS1035Label(objectName(s)); len(errs) > 0 {
				t.Errorf("objectName(%q) = %q: %v", s, objectName(s), errs)
			}
			if errs := validation.IsDNS1123Label(objectName("shop", s)); len(errs) > 0 {
				t.Errorf("objectName(shop, %q) = %q: %v", s, objectName("shop", s), errs)
			}
			if errs := validation.IsValidPortName(portName(s)); len(errs) > 0 {
				t.Errorf("portName(%q) = %q: %v", s, portName(s), errs)
			}
		}
		if dnsChars(a) != dnsChars(b) && len(dnsChars(a)) > maxObjectName && objectName(a) == objectName(b) {
			t.Errorf("%q and %q both become %q", a, b, objectName(a))
		}
	})
}
