/*
 * report.h — hetmem run's report of its process tree (report.c).
 */
#ifndef HM_REPORT_H
#define HM_REPORT_H

#include <stdint.h>

struct hm_runrep;

/* Remove /dev/shm/hetmem.PID records whose process is gone. */
void hm_pub_clean_stale(void);
/* The name in /dev/shm of @pid's newest record (hetmem.PID, or hetmem.PID.UID
 * after a uid change and exec); 0, or -1 if it has none. */
int hm_pub_name(int pid, char *name, size_t len);
/* The pid of the program that the running `hetmem run` @run_pid started
 * (its child, under hetmem), or 0. */
int hm_pub_run_program(int run_pid);
/* Follow the records of the run (@run_pid, @run_id: HETMEM_RUN); NULL if out of memory. */
struct hm_runrep *hm_runrep_new(int run_pid, uint64_t run_id);
/* Look for new records of the run and note which processes are gone. */
void hm_runrep_tick(struct hm_runrep *r);
/* The program (@child, its wait @status, ended at @child_end_ms) has ended:
 * write the report to @dest ("-": stderr, a file name, "%p" in it: a file per
 * process; NULL: none), remove the records of ended processes, free @r. */
void hm_runrep_finish(struct hm_runrep *r, int child, int status, uint64_t child_end_ms, const char *dest);

#endif

#include <stdio.h>
struct hm_stats;
/* @s as a JSON string (quoted, escaped) to @f. */
void hm_json_str(FILE *f, const char *s);
/* Every field of hetmem_counters.h as ", \"name\": value" to @f. */
void hm_json_stats(FILE *f, const struct hm_stats *s);
struct hm_pub;
/* The tiers of record @c as ", \"tiers\": [...]" to @f: one object a tier
 * (id, name, capacity, used, pages_in, pages_out, errors). */
void hm_json_tiers(FILE *f, const struct hm_pub *c);
/* every counter of a record, "NAME VALUE" a line (hetmem stat --counters) */
void hm_counters_text(FILE *f, const struct hm_pub *c);
/* the compressed tiers' line of the reports (@live: hetmem stat's, the RAM
 * saved now; else the most saved at once) */
void hm_comp_line(FILE *f, const struct hm_stats *s, bool live);
/* true: hm_runrep_finish writes each block as a JSON object on a line
 * (hetmem run --stats-format=json). */
#include <stdbool.h>
extern bool hm_runrep_json;
