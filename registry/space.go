package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// The spaces every register has. GlobalSpace is public space, the one
// global routing domain: every block of source rir, transfer or byoip is in
// it, and geofeeds, the audit and look-ups without --space read it only.
// PrivateSpace is where a private block goes when no space is named.
const (
	GlobalSpace  = "global"
	PrivateSpace = "private"
)

// Space is a routing domain (a VRF). Blocks overlap only across spaces:
// the RFC 1918 space of two VPCs is recorded as two blocks in two spaces.
type Space struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Note      string    `json:"note,omitempty"`
	Blocks    int       `json:"blocks"` // how many blocks belong to it (read, not stored)
	CreatedAt time.Time `json:"created_at"`
}

// SpaceTx is what a transaction offers for spaces.
type SpaceTx interface {
	InsertSpace(ctx context.Context, s *Space) error
	SpaceByName(ctx context.Context, name string) (Space, error)
	// Spaces lists the spaces by name (Blocks left zero).
	Spaces(ctx context.Context) ([]Space, error)
	// DeleteSpace deletes a space no block belongs to.
	DeleteSpace(ctx context.Context, id int64) error
}

// ValidateSpaceName checks a space name: the grammar of a region name.
func ValidateSpaceName(name string) error {
	if err := validateName("space name", name); err != nil {
		return fmt.Errorf("space: %w: %w", err, ErrInvalid)
	}
	return nil
}

// AddSpace creates a private routing domain.
func (r *Registry) AddSpace(ctx context.Context, s Space) (Space, error) {
	if err := ValidateSpaceName(s.Name); err != nil {
		return Space{}, err
	}
	if err := CheckText("note", s.Note); err != nil {
		return Space{}, err
	}
	if len(s.Note) > 1000 {
		return Space{}, invalid("space %s: note longer than 1000 bytes", s.Name)
	}
	out := Space{Name: s.Name, Note: s.Note}
	err := r.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.SpaceByName(ctx, s.Name); err == nil {
			return fmt.Errorf("space %s: %w", s.Name, ErrExists)
		}
		out.CreatedAt = r.clock()
		if err := tx.InsertSpace(ctx, &out); err != nil {
			return err
		}
		return r.event(ctx, tx, out.CreatedAt, "space.add", "space", out.ID, out.Name, nil, out)
	})
	return out, err
}

// Spaces lists the spaces by name, each with its count of blocks.
func (r *Registry) Spaces(ctx context.Context) (out []Space, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if out, err = tx.Spaces(ctx); err != nil {
			return err
		}
		blocks, err := tx.Blocks(ctx)
		if err != nil {
			return err
		}
		n := map[string]int{}
		for _, b := range blocks {
			n[b.Space]++
		}
		for i := range out {
			out[i].Blocks = n[out[i].Name]
		}
		return nil
	})
	return out, err
}

// RemoveSpace deletes a space that no block belongs to. The two built-in
// spaces stay.
func (r *Registry) RemoveSpace(ctx context.Context, name string) error {
	if name == GlobalSpace || name == PrivateSpace {
		return fmt.Errorf("space %s: built in, cannot be removed: %w", name, ErrState)
	}
	return r.store.Update(ctx, func(tx Tx) error {
		s, err := tx.SpaceByName(ctx, name)
		if err != nil {
			return err
		}
		blocks, err := tx.Blocks(ctx)
		if err != nil {
			return err
		}
		var held []string
		for _, b := range blocks {
			if b.Space == name {
				held = append(held, b.Prefix.String())
			}
		}
		if len(held) > 0 {
			return fmt.Errorf("space %s: %s still %s to it (%s): remove them first with `cadastre block remove`: %w",
				name, plural(len(held), "block"), agree(len(held), "belongs", "belong"), few(held), ErrState)
		}
		if err := tx.DeleteSpace(ctx, s.ID); err != nil {
			return err
		}
		return r.event(ctx, tx, r.clock(), "space.remove", "space", s.ID, s.Name, s, nil)
	})
}

// blockSpace decides and checks the space of a new block: public space is
// the global space only; private space is never in it, and goes to the
// space named "private" when none is named.
func blockSpace(b Block) (string, error) {
	switch {
	case b.Source != SourcePrivate && b.Space != "" && b.Space != GlobalSpace:
		return "", invalid("block %s: source %s is public space, which is the one global space; --space %s is for private blocks", b.Prefix, b.Source, b.Space)
	case b.Source != SourcePrivate:
		return GlobalSpace, nil
	case b.Space == GlobalSpace:
		return "", invalid("block %s: private space cannot be in the global space; name a space of its own (cadastre space add) or leave --space out for %q", b.Prefix, PrivateSpace)
	case b.Space == "":
		return PrivateSpace, nil
	}
	if err := ValidateSpaceName(b.Space); err != nil {
		return "", err
	}
	return b.Space, nil
}

// plural is "1 pool" or "3 pools".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprint(n) + " " + what + "s"
}

// agree is the verb that goes with n things: one for one, many otherwise.
func agree(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// few names at most five things, and how many more.
func few(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
}

// oneSpace keeps the blocks of space among those overlapping p; with no
// space named, the blocks must all be of one space.
func oneSpace(p netip.Prefix, space string, blocks []Block) ([]Block, error) {
	if space != "" {
		return slices.DeleteFunc(blocks, func(b Block) bool { return b.Space != space }), nil
	}
	var spaces []string
	for _, b := range blocks {
		if !slices.Contains(spaces, b.Space) {
			spaces = append(spaces, b.Space)
		}
	}
	if len(spaces) > 1 {
		return nil, invalid("%s: held by blocks of %d spaces (%s): name one with --space", p, len(spaces), few(spaces))
	}
	return blocks, nil
}

// InGlobalSpace reports whether p can be in the global space: public
// space is globally reachable (AddBlock refuses any other kind there), and
// every other prefix belongs to a private space. The published geofeed
// keeps only these.
func InGlobalSpace(p netip.Prefix) bool { return prefix.GloballyReachable(p) }
