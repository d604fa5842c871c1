/* Monotonic time for progress displays and deadlines. */
#ifndef IMGTRUST_CLOCK_H
#define IMGTRUST_CLOCK_H

#include <pthread.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t it_mono_ms(void);

/* pthread_cond_timedwait for at most ms milliseconds from now (lock held, as for the call it
 * wraps); returns what it returns. */
int it_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, long ms);

#endif
