package storetest

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// OldEvent is an event as a build before the compact payloads (migration
// 00027) stored it: its before and after as JSON text.
type OldEvent struct {
	Kind, Subject string
	ID            int64
	Before, After string // "" for NULL
}

// OldEvents are events of every shape the log holds: an assignment as the
// registry writes it (encoded by the migration), a change with both
// sides, a payload with escapes, JSON not in the registry's form (kept
// as it is), and events without payloads.
var OldEvents = []OldEvent{
	{Kind: "assignment", ID: 184843, Subject: "1.80.4.22/32",
		After: `{"id":184843,"prefix":"1.80.4.22/32","pool_id":1181,"pool":"1.80.0.0/14","region":"india-central","space":"global","tenant":"tenant00003","resource":"vm-0185039","name":"","state":"assigned","borrowed":false,"created_at":"2026-11-30T23:12:22.227947Z"}`},
	{Kind: "assignment", ID: 7, Subject: "2603:1000:0:12::1a/128",
		Before: `{"id":7,"prefix":"2603:1000:0:12::1a/128","pool_id":1300,"pool":"2603:1000::/32","region":"us-east","space":"global","tenant":"t","resource":"vm-1","name":"vm-1.us-east.cloud.example","state":"assigned","borrowed":false,"created_at":"2026-11-30T23:12:22.227947Z"}`,
		After:  `{"id":7,"prefix":"2603:1000:0:12::1a/128","pool_id":1300,"pool":"2603:1000::/32","region":"us-east","space":"global","tenant":"t","resource":"vm-1","name":"vm-1.us-east.cloud.example","state":"quarantined","borrowed":false,"created_at":"2026-11-30T23:12:22.227947Z","released_at":"2026-12-01T00:00:00Z","quarantine_until":"2026-12-08T00:00:00Z"}`},
	{Kind: "block", ID: 3, Subject: "20.0.0.0/8", After: `{"note":"a \"quoted\" \u003cnote\u003e, é","tags":{"env":"prod"},"price":{"cents":750000000,"currency":"USD"}}`},
	{Kind: "region", ID: 1, Subject: "us-east", After: `{ "name": "us-east" }`},
	{Kind: "pool", ID: 2, Subject: "20.1.0.0/16", Before: `{"id":2}`},
	{Kind: "tenant", ID: 9, Subject: "t"},
}

// CheckOldEvents: the events OldEvents inserted before the migration
// read back (Tx.Events, those after seq after) with the very JSON they
// were stored with, in order. Events, not EventsAfter: on PostgreSQL the
// latter waits for every older transaction of the server to end.
func CheckOldEvents(t *testing.T, s registry.Store, after int64) {
	t.Helper()
	var got []registry.Event
	err := s.View(context.Background(), func(tx registry.Tx) error {
		all, err := tx.Events(context.Background(), registry.EventFilter{})
		for _, e := range all {
			if e.Seq > after {
				got = append(got, e)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(OldEvents) {
		t.Fatalf("read %d events, want %d", len(got), len(OldEvents))
	}
	for i, want := range OldEvents {
		e := got[i]
		if e.SubjectKind != want.Kind || e.SubjectID != want.ID || e.Subject != want.Subject {
			t.Errorf("event %d: %s %d %s, want %s %d %s", i, e.SubjectKind, e.SubjectID, e.Subject, want.Kind, want.ID, want.Subject)
		}
		if string(e.Before) != want.Before || (e.Before == nil) != (want.Before == "") {
			t.Errorf("event %d: before %q, want %q", i, e.Before, want.Before)
		}
		if string(e.After) != want.After || (e.After == nil) != (want.After == "") {
			t.Errorf("event %d: after %q, want %q", i, e.After, want.After)
		}
	}
}
