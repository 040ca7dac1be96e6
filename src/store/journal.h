/* The definitions journal's file: records of [length][CRC32C][type][payload], appended and synced, replayed at boot, and rewritten whole by compaction. */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The journal's file name inside its directory, and the name compaction writes first. */
#define JOURNAL_FILE "definitions.journal"
#define JOURNAL_REWRITE_FILE "definitions.journal.new"
/* A record longer than this is taken for damage, not data. */
#define JOURNAL_MAX_RECORD (64u << 20)

struct journal {
    int fd;           /* the file, opened for appending; -1 when closed */
    int dir_fd;       /* its directory, synced after a rename */
    char *path;
    char *rewrite_path;
    uint64_t size;    /* bytes in the file */
    bool unsynced;    /* appended since the last sync */
};

/* Called for each good record in file order; a non-zero return stops the replay and is
 * returned by journal_open. payload is valid during the call only. */
typedef int (*journal_record_fn)(void *ctx, uint8_t type, const uint8_t *payload, size_t len);

/* What replaying found. A damaged record (short, or its CRC wrong) ends the replay: it and
 * everything after it are dropped and cut off the file, since later definitions may depend
 * on the lost one. */
struct journal_replay {
    bool existed;           /* the file was there (a recovering broker, not a first boot) */
    uint64_t records;       /* good records replayed */
    uint64_t dropped_at;    /* offset of the damaged record, when dropped_bytes */
    uint64_t dropped_bytes; /* cut off the end */
};

/* Opens (creating when missing) the journal in dir, which must exist, and replays it.
 * Returns 0, -errno, -EILSEQ for a file that is not a journal, -EPROTONOSUPPORT for a journal
 * of an older format (refused, not converted), or fn's non-zero value. */
int journal_open(struct journal *j, const char *dir, journal_record_fn fn, void *ctx,
                 struct journal_replay *replay);
/* Writes one record at the end; not yet synced. Returns 0 or -errno (the file then ends
 * where it did before). */
int journal_append(struct journal *j, uint8_t type, const void *payload, size_t len);
/* fdatasync, when anything was appended since the last. Returns 0 or -errno. */
int journal_sync(struct journal *j);
void journal_close(struct journal *j);

/* Compaction: the live set written to a new file, which then replaces the journal. */
struct journal_rewrite {
    int fd;
    uint64_t size;
    int error; /* the first write's failure, -errno; 0 */
};
int journal_rewrite_begin(struct journal *j, struct journal_rewrite *w);
void journal_rewrite_append(struct journal_rewrite *w, uint8_t type, const void *payload,
                            size_t len);
/* fsync, rename over the journal, fsync the directory; the journal then appends to the new
 * file. On failure the old journal stays, unchanged, and the new file is removed. */
int journal_rewrite_commit(struct journal *j, struct journal_rewrite *w);
void journal_rewrite_abort(struct journal *j, struct journal_rewrite *w);

#endif
