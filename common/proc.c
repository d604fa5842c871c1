/* Facts about other processes read from /proc (imgtrust/proc.h). */
#include "imgtrust/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"

bool it_proc_start_time(pid_t pid, unsigned long long *start)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        char buf[1024];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        /* comm may hold spaces and parentheses: fields follow the last ')'. */
        char *p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return false;
        p += 2;
        char state = *p;
        if (state == 'Z' || state == 'X' || state == 'x')
                return false;
        /* p is field 3; field 22 is 19 further. */
        for (int f = 3; f < 22; f++) {
                p = strchr(p, ' ');
                if (!p)
                        return false;
                p++;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || end == p)
                return false;
        *start = v;
        return true;
}
