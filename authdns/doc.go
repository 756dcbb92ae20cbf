// Package authdns is cadastre's authoritative DNS server and signer: the
// zones an operator configures (forward and reverse, with SOA, NS, static
// records and signing keys), the zone data built from the register's named
// assignments, online synthesis of reverse names for unnamed addresses,
// DNSSEC (keys sealed at rest, precomputed signatures, NSEC3 — white lies
// where names are synthesised — or compact denial, RFC 7583 key rollovers),
// zone transfers and NOTIFY, a catalog zone (RFC 9432) that secondaries
// follow to learn the zones, the configuration of a Knot secondary (with
// mod-synthrecord for the synthesis it can follow, and the gaps where it
// cannot), and a UDP fast path that sends kept answers.
//
// It holds no allocation rule and stores nothing itself: names come from
// registry.Assignments, serials move with the event log, and a zone.Store
// keeps zones, records and keys, the IXFR journal (the signed records that
// left and came at each serial: signatures depend on time as well as on the
// log, so they cannot be derived from it afterwards) and the lease that
// makes one replica the one that rolls keys. The folder is named authdns so
// that it does not clash with github.com/miekg/dns, which it is built on.
//
// The code is in three packages, imports pointing one way (server → manage
// → zone → registry, prefix):
//
//   - zone: zones, records, keys and key timing, building a zone's data,
//     incremental builds and journal steps, signing, and answering from
//     built data; the Store port. Its API to the server is a Builder that
//     makes immutable Snapshots, read only through methods.
//   - manage: what an operator may configure (zones, ACLs, static records,
//     TSIG keys) and the key rollover steps (Manager, PlanRoll).
//   - server: the wire: listeners, the UDP fast path, transfers and NOTIFY,
//     rebuilding zones as the event log moves. Only the CLI imports it.
//
// dnstest is the conformance suite of zone.Store, run by both stores.
package authdns
