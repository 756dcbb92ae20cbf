package sqlite

import (
	"os"
	"strconv"
)

// SCRATCH (sqlitebump, session 22; reverted): the ceiling of an
// allocation that writes no free page, and the frontier's reads.
//
//	SQLITEBUMP=0 (or unset): main's fold.
//	SQLITEBUMP=1: the ceiling: the fold's trigger neither reads nor
//	  deletes the free row, and a deferring transaction's AddFree(s)
//	  only keeps the writer's cache (no free row written).
//	SQLITEBUMP=2: 1 plus the frontier mark's seek (pool_frontier by pool).
//	SQLITEBUMP=3: 2 plus the proof: one descending seek of assignments_at
//	  from the pool's last address and that row's last (the take is at the
//	  top, right after the highest row above the mark).
var bumpVariant, _ = strconv.Atoi(os.Getenv("SQLITEBUMP"))

const bumpHead = `CREATE TEMP TRIGGER IF NOT EXISTS alloc_fold INSTEAD OF INSERT ON alloc_fold
	BEGIN
		SELECT RAISE(FAIL, 'cadastre: ` + errIDNotNext + `') WHERE COALESCE((SELECT id FROM assignments ORDER BY id DESC), 0) <> NEW.id - 1;
`

const bumpMark = `		SELECT RAISE(FAIL, 'cadastre: below the frontier') WHERE NEW.first < (SELECT addr FROM pool_frontier WHERE pool_id = NEW.pool_id);
`

const bumpProof = `		SELECT RAISE(FAIL, 'cadastre: not at the frontier') FROM pool_frontier f WHERE f.pool_id = NEW.pool_id AND (NEW.first < f.addr
			OR (SELECT CASE WHEN a.first >= f.addr THEN a.last END FROM assignments a
				WHERE a.space = NEW.space AND a.family = NEW.family AND a.first <= f.last ORDER BY a.first DESC LIMIT 1) IS NOT NEW.f_addr);
`

const bumpTail = `		INSERT INTO assignments (pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		VALUES (NEW.pool_id, NEW.family, NEW.first, COALESCE(NEW.last, NEW.first), NEW.bits, COALESCE(NEW.state, '` + foldState + `'),
			COALESCE(NEW.tenant, ''), COALESCE(NEW.resource, ''), COALESCE(NEW.name, ''), NEW.created_at, NEW.released_at, NEW.quarantine_until, NEW.space);
		INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after)
		VALUES (NEW.e_at, NEW.e_actor, COALESCE(NEW.e_action, '` + foldAction + `'), COALESCE(NEW.e_kind, '` + foldKind + `'), NEW.e_subject_id, NEW.e_subject, NEW.e_before, NEW.e_after);
	END`

// bumpTrigger is the fold's trigger for the variant.
func bumpTrigger() string {
	switch bumpVariant {
	case 1:
		return bumpHead + bumpTail
	case 2:
		return bumpHead + bumpMark + bumpTail
	case 3:
		return bumpHead + bumpProof + bumpTail
	}
	return foldTrigger
}
