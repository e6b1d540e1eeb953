package mailrewrite

import (
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestRewriteEngineDependsOnItsRulesOnly: the rewrite engine (this package
// and everything under it) is pure: it decides what a message becomes from
// the message, the consent decision and its rules. What stores, serves or
// measures belongs to the packages around it, which import the engine and
// never the other way round. An import of the consent store, the relay,
// the web side, the commands, Prometheus or net/http would make the engine
// carry them into every user and every fuzz run. The one exception is
// internal/urlpath, the layout of pixelgate's own URLs, which the engine
// must recognise in a message, and internal/lang, the language registry,
// so that the footer speaks the languages the consent page does; both
// import nothing of the module (their own tests guard that).
func TestRewriteEngineDependsOnItsRulesOnly(t *testing.T) {
	const module = "github.com/pixelgate/pixelgate/"
	testsupport.ForbidDepsExcept(t, "./...", []string{module + "internal/urlpath", module + "internal/lang"},
		module+"consent", module+"proxy", module+"web", module+"cmd",
		module+"internal", "github.com/prometheus", "net/http")
}
