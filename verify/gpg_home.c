/* Private, temporary GnuPG homes.
 *
 * gpg.conf says "no-autostart": importing public keys, listing and verifying need no gpg-agent
 * (gpg only probes for one), and an agent started for a throw-away home would outlive it. */
#include "imgtrust/gpg.h"

#include <errno.h>
#include <gpgme.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        /* Best effort: a leftover file makes the final check fail, which is reported. */
        remove(path);
        return 0;
}

int it_gpg_home_remove(const char *dir, it_error *err)
{
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        if (it_path_exists(dir))
                return it_error_set(err, IT_EIO, "cannot remove temporary GnuPG home %s", dir);
        return 0;
}

int it_gpg_home_new(char **out, it_error *err)
{
        *out = NULL;
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
                tmp = "/tmp";
        _cleanup_free_ char *dir = xasprintf("%s/imgtrust-gpg-XXXXXX", tmp);
        if (!mkdtemp(dir))
                return it_error_sys(err, IT_EIO, errno,
                                    "cannot create a temporary GnuPG home in %s", tmp);
        _cleanup_free_ char *conf = xasprintf("%s/gpg.conf", dir);
        static const char text[] = "no-autostart\n";
        _cleanup_close_ int fd = open(conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1)) {
                int e = errno;
                _cleanup_error_ it_error ignored = IT_ERROR_INIT;
                it_gpg_home_remove(dir, &ignored);
                return it_error_sys(err, IT_EIO, e, "cannot write %s", conf);
        }
        *out = IT_STEAL(dir);
        return 0;
}

static pthread_once_t gpgme_once = PTHREAD_ONCE_INIT;
static gpgme_error_t gpgme_init_result;

static void gpgme_init_once(void)
{
        gpgme_set_global_flag("disable-gpgconf", "1");
        if (!gpgme_check_version(NULL)) {
                gpgme_init_result = gpg_error(GPG_ERR_INV_ENGINE);
                return;
        }
        gpgme_init_result = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
}

int it_gpgme_init(it_error *err)
{
        pthread_once(&gpgme_once, gpgme_init_once);
        if (gpgme_init_result)
                return it_error_set(err, IT_EIO, "gpg (OpenPGP engine) is not usable: %s",
                                    gpgme_strerror(gpgme_init_result));
        return 0;
}
