package mailrewrite

import (
	"maps"
	"testing"
)

// Metrics count a finding once per reason code it carries, without the
// rule or form after the colon.
func TestCountFindingsPerReasonCode(t *testing.T) {
	r := &Report{Findings: []Finding{
		{Reason: "rule:sendgrid-open,identity-plain,tiny:1x1", Vendor: "SendGrid", Action: ActionRemoved},
		{Reason: "link-opaque:mailchimp-click", Vendor: "Mailchimp", Action: ActionKept},
		{Reason: "rule:other,", Action: ActionRemoved},
	}}
	want := map[FindingCount]int{
		{Reason: "rule", Vendor: "SendGrid", Action: ActionRemoved}:           1,
		{Reason: "identity-plain", Vendor: "SendGrid", Action: ActionRemoved}: 1,
		{Reason: "tiny", Vendor: "SendGrid", Action: ActionRemoved}:           1,
		{Reason: "link-opaque", Vendor: "Mailchimp", Action: ActionKept}:      1,
		{Reason: "rule", Action: ActionRemoved}:                               1,
		{Reason: "", Action: ActionRemoved}:                                   1,
	}
	if got := r.CountFindings(); !maps.Equal(got, want) {
		t.Errorf("CountFindings = %v, want %v", got, want)
	}
	if got := r.ReasonCounts(); got["rule"] != 2 || got["link-opaque"] != 1 || got["tiny"] != 1 {
		t.Errorf("ReasonCounts = %v", got)
	}
}
