package sqlite

import "testing"

// Only reads, transaction control and writes to tables no cached row is
// read from keep the writer's row cache; anything else drops it.
func TestCacheSafe(t *testing.T) {
	for _, c := range []struct {
		q    string
		safe bool
	}{
		{"SELECT id FROM regions WHERE name = ?", true},
		{"\n\t\tINSERT INTO assignments (pool_id) VALUES (?1, (SELECT space FROM pools WHERE id = ?1)) RETURNING id", true},
		{"DELETE FROM free WHERE region_id = ?", true},
		{"INSERT INTO events (at) VALUES (?)", true},
		{"INSERT INTO pool_counts (pool_id) VALUES (?) ON CONFLICT DO UPDATE SET n = n + excluded.n", true},
		{"UPDATE tenants SET used_ipv4 = ?", true},
		{"SAVEPOINT job", true},
		{"RELEASE job", true},
		{"PRAGMA data_version", true},
		{"ROLLBACK TO job", false},
		{"ROLLBACK", false},
		{"UPDATE regions SET city = ?", false},
		{"update pools set purpose = ?", false},
		{"INSERT OR REPLACE INTO pools (id) VALUES (?)", false},
		{"DELETE FROM blocks WHERE id = ?", false},
		{"INSERT INTO relocations (prefix) VALUES (?)", false},
		{"INSERT INTO spaces (name) VALUES (?)", false},
		{"WITH x AS (SELECT 1) UPDATE regions SET city = ''", false},
		{"DROP INDEX assignments_live", false},
		{"PRAGMA foreign_keys = OFF", false},
	} {
		if got := cacheSafe(c.q); got != c.safe {
			t.Errorf("cacheSafe(%q) = %v, want %v", c.q, got, c.safe)
		}
	}
}
