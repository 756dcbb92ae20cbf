package zone

// Spender is one asker's budget of online signatures (the server keeps
// one per client network): a flood of names that need signing per query
// is then paid for by the flooder alone, while the zone's own budget
// (onlineSigner) still bounds what all askers together cost. Spend says
// whether n more signatures may be made for this asker, and takes them
// if so. It is called with the zone's signer lock held: it must be quick
// and must not look anything up in the zone.
type Spender interface {
	Spend(n int) bool
}

// LookupSpending is Lookup with the online signatures it makes charged
// to sp as well as to the zone's budget (nil sp: the zone's alone).
// Signatures already made (cached for this version) cost nothing.
func (zd *Data) LookupSpending(qname string, qtype uint16, dnssec bool, sp Spender) Result {
	return zd.lookup(qname, qtype, dnssec && zd.signed, 0, sp)
}

// DefaultOnlineRate is a zone's online signing budget, all askers
// together: about 70 % of what one core signs a second (ECDSA P-256, 70
// µs a synthesised signed answer: bench/README.md, "DNS under floods"),
// so that a flood from many networks at once costs at most one core.
const DefaultOnlineRate = 10000
