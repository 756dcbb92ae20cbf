package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// badCase is one refusal: the command, the exit status it must give, the
// words its message must hold (the value and the rule), and optional steps
// run first that must succeed. After the refusal the database must be row
// for row what it was before.
type badCase struct {
	name  string
	setup [][]string
	args  []string
	code  int
	want  []string
}

// Exit statuses, as cadastre documents them in --help.
const (
	codeUsage    = 2
	codeNotFound = 3
	codeConflict = 4
	codeNoSpace  = 5
	codePolicy   = 6
	codeDatabase = 7
)

var badInput = []badCase{
	// Malformed prefixes are refused at the edge, naming the text given.
	{name: "a block prefix needs a /length", args: []string{"block", "add", "40.1.0.0", "--source", "transfer"},
		code: codeUsage, want: []string{`"40.1.0.0"`, "missing /length", "40.1.0.0/32"}},
	{name: "a block prefix must have four IPv4 octets", args: []string{"block", "add", "40.1.0/16", "--source", "transfer"},
		code: codeUsage, want: []string{`"40.1.0/16"`, "too short"}},
	{name: "a block prefix must not have octets with leading zeros", args: []string{"block", "add", "040.1.0.0/16", "--source", "transfer"},
		code: codeUsage, want: []string{`"040.1.0.0/16"`, "leading zero"}},
	{name: "a block prefix length must not have leading zeros", args: []string{"block", "add", "40.1.0.0/016", "--source", "transfer"},
		code: codeUsage, want: []string{`"40.1.0.0/016"`, `"016"`}},
	{name: "an IPv4 prefix longer than /32 is refused", args: []string{"block", "add", "40.1.0.0/33", "--source", "transfer"},
		code: codeUsage, want: []string{`"40.1.0.0/33"`, "length out of range"}},
	{name: "an IPv6 prefix longer than /128 is refused", args: []string{"block", "add", "2603:2000::/129", "--source", "transfer"},
		code: codeUsage, want: []string{`"2603:2000::/129"`, "length out of range"}},
	{name: "a prefix with surrounding spaces is refused", args: []string{"block", "add", " 40.1.0.0/16", "--source", "transfer"},
		code: codeUsage, want: []string{`" 40.1.0.0/16"`, "spaces"}},
	{name: "a pool prefix that is not an address is refused", args: []string{"pool", "add", "east-pool/24", "--region", "east"},
		code: codeUsage, want: []string{`"east-pool/24"`}},
	{name: "show refuses a malformed address", args: []string{"show", "40.64.0.256"},
		code: codeUsage, want: []string{`40.64.0.256`}},

	// Host bits set are an error that suggests the network, never masked.
	{name: "a block with host bits set is refused with a suggestion", args: []string{"block", "add", "40.1.0.1/16", "--source", "transfer"},
		code: codeUsage, want: []string{"40.1.0.1/16", "host bits set", "did you mean 40.1.0.0/16?"}},
	{name: "an IPv6 block with host bits set is refused with a suggestion", args: []string{"block", "add", "2603:2000::1/32", "--source", "transfer"},
		code: codeUsage, want: []string{"2603:2000::1/32", "host bits set", "did you mean 2603:2000::/32?"}},
	{name: "a pool with host bits set is refused with a suggestion", args: []string{"pool", "add", "40.64.3.1/24", "--region", "east"},
		code: codeUsage, want: []string{"40.64.3.1/24", "host bits set", "did you mean 40.64.3.0/24?"}},
	{name: "release of a prefix with host bits set is refused with a suggestion", args: []string{"release", "40.64.0.4/29"},
		code: codeUsage, want: []string{"40.64.0.4/29", "host bits set", "did you mean 40.64.0.0/29?"}},

	// IPv4-mapped IPv6 and zones are not address space.
	{name: "an IPv4-mapped IPv6 block is refused, naming the IPv4 form", args: []string{"block", "add", "::ffff:1.2.3.0/120", "--source", "transfer"},
		code: codeUsage, want: []string{"::ffff:1.2.3.0/120", "IPv4-mapped", "1.2.3.0/24"}},
	{name: "an IPv4-mapped IPv6 pool is refused, naming the IPv4 form", args: []string{"pool", "add", "::ffff:40.64.3.0/120", "--region", "east"},
		code: codeUsage, want: []string{"::ffff:40.64.3.0/120", "IPv4-mapped", "40.64.3.0/24"}},
	{name: "a block with an IPv6 zone is refused", args: []string{"block", "add", "2603:2000::/32%eth0", "--source", "transfer"},
		code: codeUsage, want: []string{"2603:2000::/32%eth0", "zone not allowed"}},
	{name: "a link-local block with a zone is refused", args: []string{"block", "add", "fe80::/64%eth0", "--source", "transfer"},
		code: codeUsage, want: []string{"fe80::/64%eth0", "zone not allowed"}},

	// The DNS server's flood limits.
	{name: "a negative response-rate limit is refused", args: []string{"dns", "serve", "--listen", "127.0.0.1:0", "--dns-rrl-rate", "-1"},
		code: codeUsage, want: []string{"--dns-rrl-rate -1", "0 (off) or more"}},
	{name: "a negative per-client signing budget is refused", args: []string{"dns", "serve", "--listen", "127.0.0.1:0", "--dns-sign-budget", "-5"},
		code: codeUsage, want: []string{"--dns-sign-budget -5", "0 (no per-client budget) or more"}},
	{name: "a zone signing rate of 0 is refused", args: []string{"dns", "serve", "--listen", "127.0.0.1:0", "--dns-sign-rate", "0"},
		code: codeUsage, want: []string{"--dns-sign-rate 0", "more than 0"}},

	// Blocks never overlap; pools never overlap and lie inside one block.
	{name: "a block inside a block is refused, naming the block it overlaps", args: []string{"block", "add", "40.64.1.0/24", "--source", "rir", "--registry", "arin"},
		code: codeConflict, want: []string{"block 40.64.1.0/24", "overlaps block 40.64.0.0/22"}},
	{name: "a block covering a block is refused, naming the block it overlaps", args: []string{"block", "add", "40.0.0.0/8", "--source", "rir", "--registry", "arin"},
		code: codeConflict, want: []string{"block 40.0.0.0/8", "overlaps block 40."}},
	{name: "an IPv6 block inside a block is refused", args: []string{"block", "add", "2603:1000:8000::/33", "--source", "rir", "--registry", "arin"},
		code: codeConflict, want: []string{"2603:1000:8000::/33", "overlaps block 2603:1000::/32"}},
	{name: "a pool inside another region's pool is refused, naming it and its region", args: []string{"pool", "add", "40.64.0.128/25", "--region", "west"},
		code: codeConflict, want: []string{"pool 40.64.0.128/25", "overlaps pool 40.64.0.0/24 of region east"}},
	{name: "a pool covering two pools is refused", args: []string{"pool", "add", "40.64.0.0/23", "--region", "west"},
		code: codeConflict, want: []string{"pool 40.64.0.0/23", "overlaps pool 40.64."}},
	{name: "the same pool twice is refused", args: []string{"pool", "add", "40.64.1.0/24", "--region", "west"},
		code: codeConflict, want: []string{"pool 40.64.1.0/24", "overlaps pool 40.64.1.0/24 of region west"}},
	{name: "a pool outside every block is refused", args: []string{"pool", "add", "8.8.8.0/24", "--region", "east"},
		code: codeUsage, want: []string{"pool 8.8.8.0/24", "outside every block"}},
	{name: "a pool straddling two blocks is refused", args: []string{"pool", "add", "40.64.0.0/21", "--region", "east"},
		code: codeUsage, want: []string{"pool 40.64.0.0/21", "not inside one block"}},
	{name: "a pool larger than its block is refused", args: []string{"pool", "add", "191.232.0.0/21", "--region", "lender"},
		code: codeUsage, want: []string{"pool 191.232.0.0/21", "not inside one block", "191.232.0.0/22"}},

	// Regions must exist.
	{name: "pool add in an unknown region is refused", args: []string{"pool", "add", "40.64.3.0/24", "--region", "nowhere"},
		code: codeNotFound, want: []string{"region nowhere", "not found"}},
	{name: "alloc in an unknown region is refused", args: []string{"alloc", "--region", "nowhere"},
		code: codeNotFound, want: []string{"region nowhere", "not found"}},
	{name: "report of an unknown region is refused", args: []string{"report", "--region", "nowhere"},
		code: codeNotFound, want: []string{"region nowhere", "not found"}},
	{name: "pool list of an unknown region is refused", args: []string{"pool", "list", "--region", "nowhere"},
		code: codeNotFound, want: []string{"region nowhere", "not found"}},
	{name: "a region may not borrow from an unknown region", args: []string{"region", "add", "south", "--country", "US", "--borrow-from", "nowhere"},
		code: codeNotFound, want: []string{"region south", "borrow from nowhere", "not found"}},
	{name: "a region may not borrow from itself", args: []string{"region", "add", "south", "--country", "US", "--borrow-from", "south"},
		code: codeUsage, want: []string{"region south", "cannot borrow from itself"}},
	{name: "a region name must be lower case", args: []string{"region", "add", "US_East", "--country", "US"},
		code: codeUsage, want: []string{`"US_East"`, "lower-case letters"}},
	{name: "a region name is unique", args: []string{"region", "add", "east", "--country", "US"},
		code: codeConflict, want: []string{"region east", "already exists"}},
	{name: "a borrow unit must be an IPv4 length", args: []string{"region", "add", "south", "--country", "US", "--borrow-unit", "33"},
		code: codeUsage, want: []string{"/33", "from /8 to /32"}},

	// ISO 3166 codes come from the embedded lists.
	{name: "a user-assigned country code is refused", args: []string{"region", "add", "south", "--country", "XX"},
		code: codeUsage, want: []string{"XX", "user-assigned"}},
	{name: "an alpha-3 country code is refused with the alpha-2 hint", args: []string{"region", "add", "south", "--country", "usa"},
		code: codeUsage, want: []string{`"usa"`, "alpha-2", "did you mean US?"}},
	{name: "a lower-case country code is refused, naming the upper-case form", args: []string{"region", "add", "south", "--country", "us"},
		code: codeUsage, want: []string{`"us"`, "upper case", "US"}},
	{name: "an exceptionally reserved country code is refused with its replacement", args: []string{"region", "add", "south", "--country", "UK"},
		code: codeUsage, want: []string{"UK", "reserved", "use GB"}},
	{name: "a subdivision of another country is refused", args: []string{"region", "add", "south", "--country", "BR", "--subdivision", "US-VA"},
		code: codeUsage, want: []string{"US-VA", "not a subdivision of BR"}},
	{name: "a withdrawn subdivision is refused, naming its successor", args: []string{"region", "add", "south", "--country", "MX", "--subdivision", "MX-DIF"},
		code: codeUsage, want: []string{"MX-DIF", "withdrawn", "MX-CMX"}},
	{name: "an invented subdivision is refused", args: []string{"region", "add", "south", "--country", "SG", "--subdivision", "SG-SIN"},
		code: codeUsage, want: []string{"SG-SIN", "unknown", "SG"}},
	{name: "a lower-case subdivision is refused", args: []string{"region", "add", "south", "--country", "US", "--subdivision", "us-va"},
		code: codeUsage, want: []string{`"us-va"`, "upper case", "US-VA"}},
	{name: "an unknown registered country of a block is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--registered-country", "XX"},
		code: codeUsage, want: []string{"block 40.1.0.0/16", "registered country", "XX"}},
	{name: "a city with a comma is refused (geofeeds are CSV)", args: []string{"region", "add", "south", "--country", "US", "--city", "Ashburn, VA"},
		code: codeUsage, want: []string{`"Ashburn, VA"`, "commas"}},

	// Provenance must be true.
	{name: "an rir block names its registry", args: []string{"block", "add", "40.1.0.0/16", "--source", "rir"},
		code: codeUsage, want: []string{"block 40.1.0.0/16", "source rir needs --registry"}},
	{name: "an unknown registry is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "rir", "--registry", "iana"},
		code: codeUsage, want: []string{`"iana"`, "afrinic, apnic, arin, lacnic, ripe"}},
	{name: "an unknown source is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "bought"},
		code: codeUsage, want: []string{`"bought"`, "rir, transfer, byoip, private"}},
	{name: "a private block must be private space", args: []string{"block", "add", "40.1.0.0/16", "--source", "private"},
		code: codeUsage, want: []string{"block 40.1.0.0/16", "not private space"}},
	{name: "private space cannot be an rir block", args: []string{"block", "add", "172.16.0.0/12", "--source", "rir", "--registry", "arin"},
		code: codeUsage, want: []string{"block 172.16.0.0/12", "private space", "RFC 1918"}},
	{name: "private space has no registry", args: []string{"block", "add", "192.168.0.0/16", "--source", "private", "--registry", "arin"},
		code: codeUsage, want: []string{"block 192.168.0.0/16", "private space has no registry"}},
	{name: "IPv4 documentation space cannot be an rir block", args: []string{"block", "add", "192.0.2.0/24", "--source", "rir", "--registry", "arin"},
		code: codeUsage, want: []string{"block 192.0.2.0/24", "documentation", "RFC 5737"}},
	{name: "IPv6 documentation space cannot be an rir block", args: []string{"block", "add", "2001:db8::/32", "--source", "rir", "--registry", "ripe"},
		code: codeUsage, want: []string{"block 2001:db8::/32", "documentation", "RFC 3849"}},
	{name: "an acquisition date in the future is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--date", "2999-01-01"},
		code: codeUsage, want: []string{"2999-01-01", "in the future"}},
	{name: "an acquisition date with month 13 is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--date", "2011-13-01"},
		code: codeUsage, want: []string{`"2011-13-01"`, "YYYY-MM-DD"}},
	{name: "an acquisition date in another format is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--date", "23/03/2011"},
		code: codeUsage, want: []string{`"23/03/2011"`, "YYYY-MM-DD"}},
	{name: "a price must be a number", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--price", "lots"},
		code: codeUsage, want: []string{`price "lots"`, "non-negative amount"}},
	{name: "a price must not be negative", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--price", "-5"},
		code: codeUsage, want: []string{`price "-5"`, "non-negative amount"}},
	{name: "a price has at most two decimals", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--price", "1.005"},
		code: codeUsage, want: []string{`price "1.005"`, "two decimals"}},
	{name: "a currency must be an upper-case ISO 4217 code", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--price", "100", "--currency", "usd"},
		code: codeUsage, want: []string{`currency "usd"`, "ISO 4217"}},
	{name: "a currency without a price is refused", args: []string{"block", "add", "40.1.0.0/16", "--source", "transfer", "--currency", "EUR"},
		code: codeUsage, want: []string{"--currency", "without --price"}},

	// Lengths and counts.
	{name: "--len shorter than every pool of the region is refused", args: []string{"alloc", "--region", "east", "--family", "4", "--len", "23"},
		code: codeUsage, want: []string{"length /23", "shorter than every IPv4 pool of region east", "/24"}},
	{name: "--len shorter than the IPv6 pools is refused", args: []string{"alloc", "--region", "east", "--len", "47"},
		code: codeUsage, want: []string{"length /47", "shorter than every IPv6 pool of region east", "/48"}},
	{name: "--len /33 is longer than IPv4", args: []string{"alloc", "--region", "east", "--family", "4", "--len", "33"},
		code: codeUsage, want: []string{"/33", "/1 to /32 for IPv4"}},
	{name: "--len /129 is longer than IPv6", args: []string{"alloc", "--region", "east", "--len", "129"},
		code: codeUsage, want: []string{"/129", "/1 to /128 for IPv6"}},
	{name: "--len 0 is refused", args: []string{"alloc", "--region", "east", "--len", "0"},
		code: codeUsage, want: []string{"--len 0", "from 1 to 32"}},
	{name: "a negative --len is refused", args: []string{"alloc", "--region", "east", "--len", "-8"},
		code: codeUsage, want: []string{"--len -8", "from 1 to 32"}},
	{name: "--count 0 is refused", args: []string{"alloc", "--region", "east", "--count", "0"},
		code: codeUsage, want: []string{"--count 0", "at least 1"}},
	{name: "a negative --count is refused", args: []string{"alloc", "--region", "east", "--count", "-3"},
		code: codeUsage, want: []string{"--count -3", "at least 1"}},
	{name: "a --count that is not a number is refused", args: []string{"alloc", "--region", "east", "--count", "many"},
		code: codeUsage, want: []string{`"many"`, "--count"}},
	{name: "--family other than 4 or 6 is refused", args: []string{"alloc", "--region", "east", "--family", "5"},
		code: codeUsage, want: []string{"family 5", "4 or 6"}},
	{name: "an IPv6 count larger than the free space allocates nothing", args: []string{"alloc", "--region", "full", "--count", "5"},
		code: codeNoSpace, want: []string{"4 of 5", "region full", "IPv6"}},
	{name: "an IPv4 count larger than the free space allocates nothing", args: []string{"alloc", "--region", "east", "--family", "4", "--count", "252"},
		code: codePolicy, want: []string{"251 of 252", "region east", "IPv4", `policy is "none"`}},
	{name: "a region without IPv6 pools cannot allocate IPv6", setup: [][]string{{"region", "add", "bare", "--country", "US"}},
		args: []string{"alloc", "--region", "bare"}, code: codeNoSpace, want: []string{"region bare", "no IPv6 pool"}},
	{name: "a name for many assignments is refused", args: []string{"alloc", "--region", "east", "--count", "2", "--name", "vm.acme.example"},
		code: codeUsage, want: []string{"vm.acme.example", "one by one"}},
	{name: "a DNS name must be lower case letters, digits and hyphens", args: []string{"alloc", "--region", "east", "--name", "VM_1.acme.example"},
		code: codeUsage, want: []string{`"VM_1.acme.example"`, "lower-case letters"}},

	// Policy.
	{name: "IPv4 in a dry region that may not borrow fails naming region, family and policy", args: []string{"alloc", "--region", "full", "--family", "4"},
		code: codePolicy, want: []string{"region full", "IPv4", `borrowing policy is "none"`}},
	{name: "dual-stack in a dry region that may not borrow allocates neither family", args: []string{"alloc", "--region", "full", "--dual-stack"},
		code: codePolicy, want: []string{"region full", "IPv4", `borrowing policy is "none"`}},

	// Release.
	{name: "releasing an address never assigned is refused", args: []string{"release", "40.64.0.200"},
		code: codeNotFound, want: []string{"40.64.0.200/32", "not assigned"}},
	{name: "releasing an unknown assignment ID is refused", args: []string{"release", "999"},
		code: codeNotFound, want: []string{"assignment 999", "not found"}},
	{name: "releasing assignment ID 0 is refused", args: []string{"release", "0"},
		code: codeUsage, want: []string{"assignment ID 0", "positive"}},
	{name: "releasing an address twice is refused, naming the quarantine", setup: [][]string{{"release", "40.64.0.0"}}, args: []string{"release", "40.64.0.0"},
		code: codeConflict, want: []string{"assignment 1 (40.64.0.0/32)", "already released", "quarantine until"}},
	{name: "releasing an address freed at once again is refused", setup: [][]string{{"release", "40.64.0.0", "--quarantine", "0"}}, args: []string{"release", "40.64.0.0"},
		code: codeNotFound, want: []string{"40.64.0.0/32", "not assigned"}},
	{name: "releasing an ID twice is refused, naming the quarantine", setup: [][]string{{"release", "1"}}, args: []string{"release", "1"},
		code: codeConflict, want: []string{"assignment 1 (40.64.0.0/32)", "already released", "quarantine"}},
	{name: "releasing an ID freed at once twice is refused", setup: [][]string{{"release", "1", "--quarantine", "0"}}, args: []string{"release", "1"},
		code: codeConflict, want: []string{"assignment 1 (40.64.0.0/32)", "already released"}},
	{name: "releasing an address inside a larger assignment names the assignment", args: []string{"release", "40.64.0.5"},
		code: codeNotFound, want: []string{"40.64.0.5/32", "not assigned as such", "assignment 2 (40.64.0.4/30)"}},
	{name: "releasing half of an assignment names the assignment", args: []string{"release", "40.64.0.6/31"},
		code: codeNotFound, want: []string{"40.64.0.6/31", "assignment 2 (40.64.0.4/30)"}},
	{name: "a negative quarantine is refused", args: []string{"release", "1", "--quarantine", "-1h"},
		code: codeUsage, want: []string{`"-1h"`, "must not be negative"}},
	{name: "a negative quarantine in days is refused", args: []string{"release", "1", "--quarantine", "-1d"},
		code: codeUsage, want: []string{`"-1d"`, "must not be negative"}},
	{name: "a garbage quarantine is refused", args: []string{"release", "1", "--quarantine", "soon"},
		code: codeUsage, want: []string{`"soon"`, "24h, 90m, 7d or 0"}},
	{name: "a quarantine too long for a duration is refused, not wrapped", args: []string{"release", "1", "--quarantine", "200000d"},
		code: codeUsage, want: []string{`"200000d"`, "at most"}},

	// Idempotency.
	{name: "an idempotency key reused with a different request is refused", args: []string{"alloc", "--region", "east", "--tenant", "acme", "--resource", "vm-2", "--key", "k1"},
		code: codeConflict, want: []string{`idempotency key "k1"`, "another request"}},
	{name: "an idempotency key reused for another family is refused", args: []string{"alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--resource", "vm-1", "--key", "k1"},
		code: codeConflict, want: []string{`idempotency key "k1"`, "another request"}},

	// Flags and arguments.
	{name: "an unknown flag is a usage error", args: []string{"region", "add", "south", "--country", "US", "--colour", "blue"},
		code: codeUsage, want: []string{"unknown flag: --colour", "cadastre region add --help"}},
	{name: "an unknown command is a usage error, with a suggestion", args: []string{"alocc", "--region", "east"},
		code: codeUsage, want: []string{`unknown command "alocc" for "cadastre"`, "Did you mean this?", "alloc"}},
	{name: "an unknown subcommand is a usage error, with a suggestion", args: []string{"pool", "lst"},
		code: codeUsage, want: []string{`unknown command "lst" for "cadastre pool"`, "did you mean list?"}},
	{name: "alloc without --region is a usage error", args: []string{"alloc", "--family", "4"},
		code: codeUsage, want: []string{"give --region (or --address or --prefix"}},
	{name: "region add without --country is a usage error", args: []string{"region", "add", "south"},
		code: codeUsage, want: []string{`required flag(s) "country" not set`}},
	{name: "block add without --source is a usage error", args: []string{"block", "add", "40.1.0.0/16"},
		code: codeUsage, want: []string{`required flag(s) "source" not set`}},
	{name: "pool add without --region is a usage error", args: []string{"pool", "add", "40.64.3.0/24"},
		code: codeUsage, want: []string{`required flag(s) "region" not set`}},
	{name: "release takes one argument, not two", args: []string{"release", "1", "2"},
		code: codeUsage, want: []string{"cadastre release", "accepts 1 arg(s), received 2"}},
	{name: "block add takes one argument, not none", args: []string{"block", "add", "--source", "transfer"},
		code: codeUsage, want: []string{"cadastre block add", "accepts 1 arg(s), received 0"}},
	{name: "alloc takes no arguments", args: []string{"alloc", "--region", "east", "40.64.0.9"},
		code: codeUsage, want: []string{"cadastre alloc", "40.64.0.9"}},
	{name: "--dual-stack with --family is a usage error", args: []string{"alloc", "--region", "east", "--dual-stack", "--family", "6"},
		code: codeUsage, want: []string{"--dual-stack and --family"}},
	{name: "--dual-stack with --len is a usage error", args: []string{"alloc", "--region", "east", "--dual-stack", "--len", "64"},
		code: codeUsage, want: []string{"dual-stack", "do not also give a length"}},
	{name: "assignments --state must be a state", args: []string{"assignments", "--state", "gone"},
		code: codeUsage, want: []string{`--state "gone"`, "assigned, quarantined or released"}},
	{name: "log --since must be a time, date or duration", args: []string{"log", "--since", "yesterday"},
		code: codeUsage, want: []string{`"yesterday"`, "duration ago"}},
	{name: "log --after must name an event", args: []string{"log", "--after", "999999"},
		code: codeUsage, want: []string{"after 999999", "no event has this sequence number"}},

	// Specific allocation (issue 12): exactly the space asked for, or a
	// refusal naming what holds it.
	{name: "an address an assignment holds is refused, naming the assignment", args: []string{"alloc", "--address", "40.64.0.5", "--tenant", "acme"},
		code: codeConflict, want: []string{"40.64.0.5/32", "held by assignment 2 (40.64.0.4/30"}},
	{name: "a prefix over an assignment is refused, naming it", args: []string{"alloc", "--prefix", "40.64.0.0/29"},
		code: codeConflict, want: []string{"40.64.0.0/29", "held by assignment"}},
	{name: "an address outside every pool is not found", args: []string{"alloc", "--address", "132.245.0.1"},
		code: codeNotFound, want: []string{"132.245.0.1/32", "outside every pool"}},
	{name: "a prefix across a pool's edge is refused", args: []string{"alloc", "--prefix", "40.64.0.0/23"},
		code: codeUsage, want: []string{"40.64.0.0/23", "not inside one pool"}},
	{name: "a reserved address is refused, naming the reservation", setup: [][]string{{"reserve", "40.64.0.16/28", "--reason", "gateways"}},
		args: []string{"alloc", "--address", "40.64.0.17"}, code: codeConflict, want: []string{"40.64.0.17/32", "reserved as 40.64.0.16/28 (gateways)"}},
	{name: "a pool's network address is refused by its address policy", setup: [][]string{{"pool", "add", "40.64.3.0/24", "--region", "west"}},
		args: []string{"alloc", "--address", "40.64.3.0"}, code: codeConflict, want: []string{"network address of pool 40.64.3.0/24", "--use-all"}},
	{name: "a pool's broadcast address is refused by its address policy", setup: [][]string{{"pool", "add", "40.64.3.0/24", "--region", "west"}},
		args: []string{"alloc", "--address", "40.64.3.255"}, code: codeConflict, want: []string{"broadcast address of pool 40.64.3.0/24"}},
	{name: "a /64's subnet-router anycast address is refused by the address policy", setup: [][]string{{"pool", "add", "2603:1000:4::/48", "--region", "west"}},
		args: []string{"alloc", "--address", "2603:1000:4::"}, code: codeConflict, want: []string{"2603:1000:4::", "subnet-router anycast", "RFC 4291"}},
	{name: "a malformed --address is refused", args: []string{"alloc", "--address", "40.64.0.300"},
		code: codeUsage, want: []string{`--address "40.64.0.300"`}},
	{name: "--address and --prefix together are refused", args: []string{"alloc", "--address", "40.64.0.9", "--prefix", "40.64.0.8/30"},
		code: codeUsage, want: []string{"--address and --prefix"}},
	{name: "--address with --count is refused", args: []string{"alloc", "--address", "40.64.0.9", "--count", "2"},
		code: codeUsage, want: []string{"40.64.0.9/32", "no --count or --dual-stack"}},
	{name: "--address in another region's pool is refused", args: []string{"alloc", "--address", "40.64.0.9", "--region", "west"},
		code: codeUsage, want: []string{"40.64.0.9/32", "region east, not of region west"}},
	{name: "an idempotency key reused for a specific address is refused", args: []string{"alloc", "--address", "40.64.0.9", "--tenant", "acme", "--key", "k1"},
		code: codeConflict, want: []string{`idempotency key "k1"`, "another request"}},
	{name: "a specific allocation over a tenant's quota is refused", setup: [][]string{{"tenant", "add", "q", "--max-ipv4", "2"}},
		args: []string{"alloc", "--prefix", "40.64.0.8/30", "--tenant", "q"}, code: codeConflict, want: []string{"tenant q", "quota max-ipv4 is 2"}},

	// Reservations (issue 12).
	{name: "a reservation over a live assignment is refused, naming it", args: []string{"reserve", "40.64.0.0/29", "--reason", "gateways"},
		code: codeConflict, want: []string{"40.64.0.0/29", "cannot be reserved", "held by assignment"}},
	{name: "a reservation over a reservation is refused, naming it", setup: [][]string{{"reserve", "40.64.0.16/28", "--reason", "gateways"}},
		args: []string{"reserve", "40.64.0.16/29", "--reason", "vrrp"}, code: codeConflict, want: []string{"reserved as 40.64.0.16/28 (gateways)"}},
	{name: "a reservation needs --reason", args: []string{"reserve", "40.64.0.16/28"},
		code: codeUsage, want: []string{`required flag(s) "reason" not set`}},
	{name: "a blank reason is refused", args: []string{"reserve", "40.64.0.16/28", "--reason", "  "},
		code: codeUsage, want: []string{"40.64.0.16/28", "give a reason"}},
	{name: "a reservation outside every pool is not found", args: []string{"reserve", "132.245.0.0/24", "--reason", "later"},
		code: codeNotFound, want: []string{"132.245.0.0/24", "outside every pool"}},
	{name: "a reservation ending in the past is refused", args: []string{"reserve", "40.64.0.16/28", "--reason", "x", "--until", "2001-01-01"},
		code: codeUsage, want: []string{"40.64.0.16/28", "not in the future"}},
	{name: "a garbage --until is refused", args: []string{"reserve", "40.64.0.16/28", "--reason", "x", "--until", "someday"},
		code: codeUsage, want: []string{`--until "someday"`}},
	{name: "a reservation with host bits set is refused with a suggestion", args: []string{"reserve", "40.64.0.17/28", "--reason", "x"},
		code: codeUsage, want: []string{"40.64.0.17/28", "did you mean 40.64.0.16/28?"}},
	{name: "unreserve of space not reserved is not found", args: []string{"unreserve", "40.64.0.16/28"},
		code: codeNotFound, want: []string{"40.64.0.16/28", "not reserved"}},
	{name: "unreserve of part of a reservation names the reservation", setup: [][]string{{"reserve", "40.64.0.16/28", "--reason", "gateways"}},
		args: []string{"unreserve", "40.64.0.16/29"}, code: codeNotFound, want: []string{"not reserved as such", "40.64.0.16/28"}},

	// Child pools (issue 12, hierarchy).
	{name: "releasing a child pool with live children is refused, naming them", setup: childPoolSetup,
		args: []string{"release", "--pool", "site1"}, code: codeConflict, want: []string{"child pool site1", "still holds assignment", "/64"}},
	{name: "a child pool name in use is refused", setup: childPoolSetup,
		args: []string{"alloc", "--region", "east", "--len", "56", "--as-pool", "site1"}, code: codeConflict, want: []string{"child pool site1", "already exists"}},
	{name: "a bad child pool name is refused", args: []string{"alloc", "--region", "east", "--len", "56", "--as-pool", "Site 1"},
		code: codeUsage, want: []string{`"Site 1"`}},
	{name: "a child pool needs --len", args: []string{"alloc", "--region", "east", "--as-pool", "site9"},
		code: codeUsage, want: []string{"--as-pool", "give --len"}},
	{name: "a child pool is not taken by address", args: []string{"alloc", "--address", "40.64.0.9", "--as-pool", "site9"},
		code: codeUsage, want: []string{"--as-pool", "not --address"}},
	{name: "--purpose is for child pools only", args: []string{"alloc", "--region", "east", "--purpose", "site"},
		code: codeUsage, want: []string{"--purpose", "only with --as-pool"}},
	{name: "an unknown child pool is not found", args: []string{"alloc", "--pool", "site9", "--len", "64"},
		code: codeNotFound, want: []string{`child pool "site9"`}},
	{name: "a length shorter than the child pool is refused", setup: childPoolSetup,
		args: []string{"alloc", "--pool", "site1", "--len", "48"}, code: codeUsage, want: []string{"length /48", "shorter than child pool site1"}},
	{name: "the wrong family for a child pool is refused", setup: childPoolSetup,
		args: []string{"alloc", "--pool", "site1", "--family", "4"}, code: codeUsage, want: []string{"child pool site1", "is IPv6"}},
	{name: "more than a child pool holds allocates nothing", setup: childPoolSetup,
		args: []string{"alloc", "--pool", "site1", "--len", "64", "--count", "256"}, code: codeNoSpace, want: []string{"child pool site1", "255 of 256"}},
	{name: "releasing an unknown child pool is not found", args: []string{"release", "--pool", "site9"},
		code: codeNotFound, want: []string{`child pool "site9"`}},
	{name: "removing a pool that holds a child pool names it", setup: childPoolSetup,
		args: []string{"pool", "remove", "2603:1000::/48"}, code: codeConflict, want: []string{"2603:1000::/48", "child pool", "site1 (2603:1000:0:100::/56)"}},
	{name: "release --pool takes no prefix", args: []string{"release", "--pool", "site9", "40.64.0.9"},
		code: codeUsage, want: []string{"--pool", "no PREFIX|ID"}},

	// Tags at allocation time and child pools' quotas and keys (issue 12).
	{name: "alloc --tag with a bad key is refused", args: []string{"alloc", "--region", "east", "--tag", "Env=prod"},
		code: codeUsage, want: []string{"--tag", `tag key "Env"`, "lower-case"}},
	{name: "alloc --tag without = is refused", args: []string{"alloc", "--region", "east", "--tag", "env"},
		code: codeUsage, want: []string{"--tag", `tag "env": write KEY=VALUE`}},
	{name: "alloc --tag with a key twice is refused", args: []string{"alloc", "--region", "east", "--tag", "env=a", "--tag", "env=b"},
		code: codeUsage, want: []string{"--tag", "tag env: given twice"}},
	{name: "alloc --as-pool --tag with a control character is refused", args: []string{"alloc", "--region", "east", "--len", "56", "--as-pool", "site9", "--tag", "env=a\x1bb"},
		code: codeUsage, want: []string{"--tag"}},
	{name: "a child pool inside a child pool is refused as not supported", setup: childPoolSetup,
		args: []string{"alloc", "--pool", "site1", "--len", "60", "--as-pool", "site2"}, code: codeUsage,
		want: []string{"--as-pool with --pool", "child pool inside a child pool is not supported", "one level deep"}},
	{name: "a child pool over its tenant's quota is refused, naming the quota",
		setup: [][]string{{"tenant", "add", "q", "--max-ipv4", "100"}},
		args:  []string{"alloc", "--region", "east", "--family", "4", "--len", "25", "--as-pool", "site9", "--tenant", "q"}, code: codeConflict,
		want: []string{"child pool site9", "tenant q", "quota max-ipv4 is 100", "asks for 128"}},
	{name: "children of a child pool count against the quota too",
		setup: [][]string{{"tenant", "add", "q", "--max-ipv6", "2"},
			{"alloc", "--region", "east", "--len", "56", "--as-pool", "site9", "--tenant", "q"},
			{"alloc", "--pool", "site9", "--len", "64", "--tenant", "q"}},
		args: []string{"alloc", "--pool", "site9", "--len", "64", "--tenant", "q"}, code: codeConflict,
		want: []string{"tenant q", "quota max-ipv6 is 2", "2 in use"}},
	{name: "a child pool with a key an allocation used is refused",
		args: []string{"alloc", "--region", "east", "--len", "56", "--as-pool", "site9", "--tenant", "acme", "--key", "k1"}, code: codeConflict,
		want: []string{`idempotency key "k1"`, "another request"}},
	{name: "an allocation with a key a child pool used is refused", setup: [][]string{{"alloc", "--region", "east", "--len", "56", "--as-pool", "site9", "--tenant", "acme", "--key", "k9"}},
		args: []string{"alloc", "--region", "east", "--len", "56", "--tenant", "acme", "--key", "k9"}, code: codeConflict,
		want: []string{`idempotency key "k9"`, "another request"}},
	{name: "a child pool retried with its key but another length is refused", setup: [][]string{{"alloc", "--region", "east", "--len", "56", "--as-pool", "site9", "--tenant", "acme", "--key", "k9"}},
		args: []string{"alloc", "--region", "east", "--len", "52", "--as-pool", "site9", "--tenant", "acme", "--key", "k9"}, code: codeConflict,
		want: []string{`idempotency key "k9"`, "another request"}},

	{name: "demo refuses a register that is not the demo", args: []string{"demo"},
		code: codeConflict, want: []string{"demo needs an empty register", "5 regions"}},
}

// childPoolSetup makes the child pool site1 of tenant acme in east, with
// one /64 inside it.
var childPoolSetup = [][]string{
	{"alloc", "--region", "east", "--len", "56", "--as-pool", "site1", "--purpose", "site", "--tenant", "acme"},
	{"alloc", "--pool", "site1", "--len", "64", "--tenant", "acme"},
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) { runBadCases(t, badInput) }

// runBadCases runs each case on a fresh copy of the fixture register.
func runBadCases(t *testing.T, cases []badCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := register(t)
			for _, step := range tc.setup {
				mustCLI(t, db, step...)
			}
			before := dump(t, db)
			r := cli(t, db, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q\n%s", w, r)
				}
			}
			if !strings.HasPrefix(r.stderr, "cadastre: ") || strings.Count(r.stderr, "cadastre: ") != 1 {
				t.Errorf("want one error message starting \"cadastre: \"\n%s", r)
			}
			if r.stdout != "" {
				t.Errorf("a refusal printed to stdout\n%s", r)
			}
			sameDump(t, before, dump(t, db))
		})
	}
}

func TestBadInputCoverage(t *testing.T) {
	if n := len(badInput); n < 30 {
		t.Fatalf("%d bad-input cases; the issue asks for at least 30", n)
	}
}

// TestCorruptDatabase: a file that is not SQLite is refused by every
// command with exit 7, and left as it was.
func TestCorruptDatabase(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not a database, just garbage bytes\x00\xff\x13"), 200)
	for _, args := range [][]string{
		{"region", "list"},
		{"report"},
		{"region", "add", "east", "--country", "US"},
		{"alloc", "--region", "east"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "cadastre.db")
			if err := os.WriteFile(db, garbage, 0o644); err != nil {
				t.Fatal(err)
			}
			r := cli(t, db, args...)
			if r.code != codeDatabase {
				t.Errorf("exit %d, want %d\n%s", r.code, codeDatabase, r)
			}
			for _, w := range []string{db, "not a cadastre database"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q\n%s", w, r)
				}
			}
			after, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, garbage) {
				t.Errorf("the corrupt file was changed")
			}
		})
	}
}

// TestUnusableDatabasePath: a folder or a missing folder is refused with exit 7.
func TestUnusableDatabasePath(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, db string
		want     []string
	}{
		{"a folder is not a database", dir, []string{dir, "is a directory"}},
		{"a database in a missing folder cannot be created", filepath.Join(dir, "missing", "cadastre.db"), []string{"missing", "cannot open", "folder exists"}},
		{"an empty path is refused", "", []string{"empty path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.db, "region", "list")
			if r.code != codeDatabase {
				t.Errorf("exit %d, want %d\n%s", r.code, codeDatabase, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q\n%s", w, r)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("the missing folder was created")
	}
}

// TestForeignSQLiteFileIsRefused: a SQLite file of another program is not a
// cadastre database; a read must not migrate the cadastre schema into it.
func TestForeignSQLiteFileIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "other.db")
	// Build a foreign database with the test's own driver.
	foreignDB(t, db)
	before := dump(t, db)
	r := cli(t, db, "region", "list")
	if r.code != codeDatabase || !strings.Contains(r.stderr, "not a cadastre database") {
		t.Errorf("want exit %d and \"not a cadastre database\"\n%s", codeDatabase, r)
	}
	sameDump(t, before, dump(t, db))
}

// readOnlyRunner returns how to run the binary so that file permissions
// bind it. As root they do not (CAP_DAC_OVERRIDE), so the binary runs as
// user nobody through setpriv(1).
func readOnlyRunner(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	// As root chmod does not stop writes: run as nobody through setpriv(1).
	p := testenv.Program(t, "setpriv", "util-linux")
	return []string{p, "--reuid=65534", "--regid=65534", "--clear-groups"}
}

// readOnlyCopy copies the fixture register into a folder the unprivileged
// user can traverse, and makes the file read-only. With dirWritable the
// folder stays writable, so SQLite can make its -wal and -shm files there.
func readOnlyCopy(t *testing.T, dirWritable bool) string {
	t.Helper()
	src := register(t)
	dir, err := os.MkdirTemp("", "cadastre-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	db := filepath.Join(dir, "cadastre.db")
	copyDB(t, src, db)
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o555)
	if dirWritable {
		mode = 0o777
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestReadOnlyDatabase: with a read-only file, reads work and writes are
// refused with a clear message, changing nothing.
func TestReadOnlyDatabase(t *testing.T) {
	as := readOnlyRunner(t)
	db := readOnlyCopy(t, true)
	before := dump(t, db)

	r := cliAs(t, as, db, "region", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "east") {
		t.Errorf("region list on a read-only file: want success listing east\n%s", r)
	}
	r = cliAs(t, as, db, "report", "--region", "east")
	if r.code != 0 || !strings.Contains(r.stdout, "east") {
		t.Errorf("report on a read-only file: want success\n%s", r)
	}
	for _, args := range [][]string{
		{"region", "add", "south", "--country", "US"},
		{"alloc", "--region", "east"},
		{"release", "1"},
	} {
		r := cliAs(t, as, db, args...)
		if r.code == 0 {
			t.Errorf("a write to a read-only file succeeded\n%s", r)
		}
		if !strings.Contains(r.stderr, "read-only") || !strings.Contains(r.stderr, "permissions") {
			t.Errorf("want a message that the database is read-only and to check permissions\n%s", r)
		}
	}
	sameDump(t, before, dump(t, db))
}

// TestReadOnlyDatabaseWriteExitCode: a write refused because the file is
// read-only is a database failure, exit 7, naming the file.
func TestReadOnlyDatabaseWriteExitCode(t *testing.T) {
	as := readOnlyRunner(t)
	db := readOnlyCopy(t, true)
	r := cliAs(t, as, db, "region", "add", "south", "--country", "US")
	if r.code != codeDatabase || !strings.Contains(r.stderr, db) {
		t.Errorf("want exit %d naming %s\n%s", codeDatabase, db, r)
	}
}

// TestReadOnlyDatabaseInReadOnlyFolder: reads still work when neither the
// file nor its folder may be written (a backup mounted read-only).
func TestReadOnlyDatabaseInReadOnlyFolder(t *testing.T) {
	as := readOnlyRunner(t)
	db := readOnlyCopy(t, false)
	r := cliAs(t, as, db, "region", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "east") {
		t.Errorf("region list: want success\n%s", r)
	}
}

// Messages should say a thing once: the registry wraps errors the store
// has already wrapped with the same words.
func TestErrorMessagesDoNotRepeat(t *testing.T) {
	db := register(t)
	for _, args := range [][]string{
		{"pool", "add", "40.64.3.0/24", "--region", "nowhere"},
		{"alloc", "--region", "nowhere"},
		{"release", "999"},
	} {
		r := cli(t, db, args...)
		for _, rep := range []string{"region nowhere: region nowhere", "assignment 999: assignment 999"} {
			if strings.Contains(r.stderr, rep) {
				t.Errorf("message repeats %q\n%s", rep, r)
			}
		}
	}
}

// Releasing a prefix that holds a smaller assignment must not say the
// prefix "lies in" that assignment: it is the other way round.
func TestReleaseOfCoveringPrefixNamesItTruly(t *testing.T) {
	db := register(t)
	r := cli(t, db, "release", "40.64.0.0/30")
	if r.code != codeNotFound || strings.Contains(r.stderr, "lies in") {
		t.Errorf("want exit %d without \"lies in\"\n%s", codeNotFound, r)
	}
}

// A currency is an ISO 4217 code, not any three capital letters.
func TestUnknownCurrencyIsRefused(t *testing.T) {
	db := register(t)
	before := dump(t, db)
	r := cli(t, db, "block", "add", "40.1.0.0/16", "--source", "transfer", "--price", "100", "--currency", "XYZ")
	if r.code != codeUsage || !strings.Contains(r.stderr, `"XYZ"`) {
		t.Errorf("want exit %d naming \"XYZ\"\n%s", codeUsage, r)
	}
	sameDump(t, before, dump(t, db))
}

// foreignDB writes a small SQLite database of another program at path.
func foreignDB(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`CREATE TABLE notes (body TEXT)`, `INSERT INTO notes VALUES ('keep me')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBorrowingAWholeLenderPool: when the lender's pool is exactly one
// relocation unit, lending it whole must work like lending part of it.
func TestBorrowingAWholeLenderPool(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cadastre.db")
	for _, step := range [][]string{
		{"region", "add", "lender", "--country", "BR"},
		{"region", "add", "borrower", "--country", "US", "--borrow-from", "lender"},
		{"block", "add", "191.232.0.0/22", "--source", "rir", "--registry", "lacnic"},
		{"pool", "add", "191.232.0.0/24", "--region", "lender", "--use-all"},
		{"pool", "add", "191.232.1.0/30", "--region", "borrower", "--use-all"},
		{"alloc", "--region", "borrower", "--family", "4", "--count", "4"},
	} {
		mustCLI(t, db, step...)
	}
	r := cli(t, db, "alloc", "--region", "borrower", "--family", "4", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"from_region": "lender"`) {
		t.Errorf("want a borrowed assignment from lender\n%s", r)
	}
}

// TestChildPools walks a child pool's life through the CLI: carved from
// the region, children inside it, shown under its parent, refused release
// while it holds them, dissolved after.
func TestChildPools(t *testing.T) {
	db := register(t)
	for _, step := range childPoolSetup {
		mustCLI(t, db, step...)
	}
	list := mustCLI(t, db, "pool", "list", "--region", "east")
	if !strings.Contains(list, "└ 2603:1000:0:100::/56") || !strings.Contains(list, "child pool site1 of acme") {
		t.Fatalf("pool list does not show site1 under its parent:\n%s", list)
	}
	got := mustCLI(t, db, "alloc", "--pool", "site1", "--len", "64", "--tenant", "acme", "--json")
	if !strings.Contains(got, `"prefix": "2603:1000:0:101::/64"`) {
		t.Fatalf("second child: %s", got)
	}
	mustCLI(t, db, "release", "2603:1000:0:100::/64", "--quarantine", "0")
	mustCLI(t, db, "release", "2603:1000:0:101::/64", "--quarantine", "0")
	out := mustCLI(t, db, "release", "--pool", "site1")
	if !strings.Contains(out, "dissolved child pool site1 (2603:1000:0:100::/56)") {
		t.Fatalf("release --pool: %s", out)
	}
	if list := mustCLI(t, db, "pool", "list", "--region", "east"); strings.Contains(list, "site1") {
		t.Fatalf("dissolved child pool still listed:\n%s", list)
	}
}

// TestAllocTagsAndChildPoolKeys: tags given at allocation time are on
// the assignments and the child pool, found by --tag in every listing,
// shown by show and written by export; a child pool's key replays it and
// its carving counts against its tenant's use.
func TestAllocTagsAndChildPoolKeys(t *testing.T) {
	db := register(t)
	mustCLI(t, db, "region", "update", "east", "--tag", "env=prod")
	mustCLI(t, db, "block", "update", "2603:1000::/32", "--tag", "env=prod")
	mustCLI(t, db, "pool", "update", "2603:1000::/48", "--tag", "env=prod")
	first := mustCLI(t, db, "alloc", "--region", "east", "--len", "56", "--as-pool", "site1", "--tenant", "acme", "--key", "carve-1",
		"--tag", "env=prod", "--tag", "site=fra 1", "--json")
	again := mustCLI(t, db, "alloc", "--region", "east", "--len", "56", "--as-pool", "site1", "--tenant", "acme", "--key", "carve-1",
		"--tag", "env=prod", "--tag", "site=fra 1", "--json")
	if first != again || !strings.Contains(first, `"site": "fra 1"`) {
		t.Fatalf("retried child pool differs or has no tags:\n%s\n----\n%s", first, again)
	}
	mustCLI(t, db, "alloc", "--pool", "site1", "--len", "64", "--count", "2", "--tenant", "acme", "--tag", "env=prod", "--tag", "role=db")
	mustCLI(t, db, "alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--tag", "role=web")

	for _, c := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"region", "list", "--tag", "env=prod"}, []string{"east"}, []string{"west"}},
		{[]string{"block", "list", "--tag", "env=prod"}, []string{"2603:1000::/32"}, []string{"40.64.0.0/22"}},
		{[]string{"pool", "list", "--tag", "env=prod"}, []string{"2603:1000::/48", "2603:1000:0:100::/56"}, []string{"40.64.0.0/24"}},
		{[]string{"pool", "list", "--tag", "site=fra 1"}, []string{"2603:1000:0:100::/56"}, []string{"2603:1000::/48 "}},
		{[]string{"assignments", "--tag", "role=db"}, []string{"2603:1000:0:100::/64", "2603:1000:0:101::/64"}, []string{"40.64.0."}},
		{[]string{"assignments", "--tag", "role=web"}, []string{"40.64.0."}, []string{"2603:1000:0:100::/64"}},
		{[]string{"show", "2603:1000:0:100::/64"}, []string{"env=prod,role=db", "env=prod,site=fra 1"}, nil},
		{[]string{"export"}, []string{`"child_pools": [`, `"name":"site1"`, `"tags":{"env":"prod","site":"fra 1"}`, `"child_pool":"site1"`, `"tags":{"env":"prod","role":"db"}`, `"version": 4`}, nil},
	} {
		out := mustCLI(t, db, c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: does not show %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
		for _, w := range c.not {
			if strings.Contains(out, w) {
				t.Errorf("%s: shows %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
	// acme's IPv6 use: the fixture's one /128, the child pool, its two children.
	if out := mustCLI(t, db, "tenant", "list", "--json"); !strings.Contains(out, `"used_ipv6": 4`) {
		t.Fatalf("acme's IPv6 use, want 4 (the child pool counts once, on a retry too):\n%s", out)
	}
}
