#!/bin/bash
# Tags a cloud register copy for the tag searches: env=e0..e9 on one live assignment in 100, rare=yes on 3.
sqlite3 "$1" "INSERT OR IGNORE INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'env', 'e' || (id/100 % 10) FROM assignments WHERE id % 100 = 0 AND state = 'assigned';
INSERT OR IGNORE INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'rare', 'yes' FROM assignments WHERE state = 'assigned' AND id > (SELECT MAX(id) - 1000 FROM assignments) LIMIT 3;
SELECT key, COUNT(*) FROM tags WHERE kind = 'assignment' GROUP BY key;"
