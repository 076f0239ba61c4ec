/* Stage one of medinstruct_text.rouge's index, as one fused loop per block.
 *
 * The numpy path (rouge._dense_hits / rouge._stream_hits) tests every
 * (probing row, posting entry) pair with about ten passes over rows x entries
 * temporaries, ~4 ns a pair; at 52k candidates over a few-hundred-word
 * vocabulary that is ~540M pairs and most of the run.  Here a pair costs two
 * ANDs, two popcounts and three integer comparisons, and nothing is written
 * unless it passes.  The arithmetic is the numpy path's (tests/text compare the
 * two on every entry), so the kept set does not depend on which one ran.
 *
 * Built and loaded by medinstruct_text.scan_kernel (ctypes, which releases the
 * GIL for the call).
 */
#include <stddef.h>
#include <stdint.h>

/* One posting entry: rouge._RECORD_STRUCT, "<QQihh" (24 bytes, no padding). */
typedef struct {
    uint64_t low, high; /* the indexed item's folded 128-bit signature */
    int32_t position;   /* the item's position in the index */
    int16_t u, v;       /* its stage-one terms (rouge._text_terms) */
} posting_entry;

_Static_assert(sizeof(posting_entry) == 24, "posting records are 24 bytes");

/* Posting list g is lists[g][0 .. lengths[g]) (the index's own buffers, read in
 * place); it is read by probes probe_starts[g] .. probe_starts[g + 1], each with
 * its row's folded signature (fold[2p], fold[2p + 1]), terms u_x[p], v_x[p] and
 * position limit.  An entry passes a probe when 2 * shared fold bits > v_x + u
 * and > u_x + v, and u <= limit.  Passes are written to out_probe/out_item up to
 * `capacity` and counted past it: the caller retries with room for all of them. */
int64_t medinstruct_scan_postings(
    const posting_entry *const *lists, const int64_t *lengths, int64_t count,
    const int64_t *probe_starts, const uint64_t *fold, const int64_t *u_x,
    const int64_t *v_x, const int64_t *limits, int64_t *out_probe,
    int64_t *out_item, int64_t capacity)
{
    int64_t found = 0;
    for (int64_t g = 0; g < count; g++) {
        const posting_entry *first = lists[g];
        const posting_entry *last = first + lengths[g];
        for (int64_t p = probe_starts[g]; p < probe_starts[g + 1]; p++) {
            const uint64_t x0 = fold[2 * p], x1 = fold[2 * p + 1];
            const int64_t ux = u_x[p], vx = v_x[p], limit = limits[p];
            for (const posting_entry *e = first; e < last; e++) {
                const int64_t twice = 2 * (int64_t)(__builtin_popcountll(x0 & e->low)
                                                    + __builtin_popcountll(x1 & e->high));
                if (twice > vx + e->u && twice > ux + e->v && e->u <= limit) {
                    if (found < capacity) {
                        out_probe[found] = p;
                        out_item[found] = e->position;
                    }
                    found++;
                }
            }
        }
    }
    return found;
}
