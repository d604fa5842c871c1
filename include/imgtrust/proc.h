/* Facts about other processes read from /proc. */
#ifndef IMGTRUST_PROC_H
#define IMGTRUST_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* Start time of a live process (field 22 of /proc/PID/stat, in clock ticks since boot): with the
 * pid it names one process for good, as a pid alone is recycled. false when there is no such
 * process, or it has exited (a zombie holds no namespace, lock or mount any more). */
bool it_proc_start_time(pid_t pid, unsigned long long *start);

#endif
