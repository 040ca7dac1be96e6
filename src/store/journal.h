/* The definitions journal's file: records of [length][CRC32C][type][payload], appended and synced, replayed at boot, and rewritten whole by compaction. */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct amqp_buf;

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
/* Appends one record's bytes (header, CRC, type, payload) to buf. Returns 0, or -EFBIG for
 * a payload beyond JOURNAL_MAX_RECORD (buf then unchanged). */
int journal_encode(struct amqp_buf *buf, uint8_t type, const void *payload, size_t len);
void journal_close(struct journal *j);

/* What the journal's writer thread runs: plain functions of a descriptor and bytes, which
 * touch no struct journal but for the paths and directory fixed at open. */

/* Writes encoded records at offset `at` of fd and fdatasyncs; *end is where the file ends
 * afterwards. Returns 0 or -errno; a write that fails is cut off again (*end is then `at`),
 * a failed sync leaves the records in the file. */
int journal_write(int fd, uint64_t at, const void *records, size_t len, uint64_t *end);
/* Compaction: the magic and records written to the rewrite file, fsynced, renamed over the
 * journal and the directory fsynced. *fd_out and *size_out are set (the new file, open for
 * writing, and its size) once the rename is done, even when the directory's fsync then fails. Returns 0 or -errno; before
 * the rename, the old journal stays as it was and the new file is removed. */
int journal_replace(const struct journal *j, const void *records, size_t len, int *fd_out,
                    uint64_t *size_out);
/* On the loop, after journal_replace set fd: the journal goes on in that file of size bytes. */
void journal_adopt(struct journal *j, int fd, uint64_t size);
/* journal_replace and journal_adopt at once, for the synchronous paths (boot). */
int journal_compact(struct journal *j, const void *records, size_t len);

#endif
