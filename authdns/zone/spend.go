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
	return zd.lookup(qname, qtype, dnssec && zd.Signed, 0, sp)
}
