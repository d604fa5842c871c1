#include "imgtrust/clock.h"

#include <time.h>

int64_t it_mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int it_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, long ms)
{
        /* Condition variables wait on CLOCK_REALTIME unless told otherwise. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (ms % 1000) * 1000000L;
        until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        return pthread_cond_timedwait(cond, lock, &until);
}
