#include "store_segment.h"

#include "mc/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux 5.1 */
#endif

#define HUGE_2M (2u << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static int map_fd(store_segment_t *seg, int fd, size_t size)
{
    void *p;

    if (ftruncate(fd, (off_t)size) != 0)
        return MC_INTERNAL_ERROR;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return MC_INTERNAL_ERROR;
    seg->fd = fd;
    seg->base = p;
    seg->size = size;
    /* after the one writable mapping exists: nobody gets another */
    seg->sealed = fcntl(fd, F_ADD_SEALS,
                        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == 0;
    return MC_OK;
}

int store_segment_create(store_segment_t *seg, const char *name, size_t size, bool want_huge)
{
    int fd;

    *seg = (store_segment_t){.fd = -1, .base = NULL, .size = 0, .hugepages = false};
    if (size == 0)
        return MC_INVALID_PARAMS;
#ifdef MFD_HUGETLB
    if (want_huge && size <= SIZE_MAX - HUGE_2M) {
        size_t hsize = (size + HUGE_2M - 1) & ~(size_t)(HUGE_2M - 1);
        fd = memfd_create(name, MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING);
        if (fd >= 0) {
            if (map_fd(seg, fd, hsize) == MC_OK) {
                seg->hugepages = true;
                return MC_OK;
            }
            close(fd); /* no huge pages reserved: fall back */
        }
    }
#else
    (void)want_huge;
#endif
    fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return MC_INTERNAL_ERROR;
    if (map_fd(seg, fd, size) != MC_OK) {
        int e = errno;
        close(fd);
        errno = e;
        return MC_INTERNAL_ERROR;
    }
    return MC_OK;
}

int store_segment_open_readonly(const store_segment_t *seg)
{
    char path[64];

    if (!seg->sealed || seg->fd < 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", seg->fd);
    return open(path, O_RDONLY | O_CLOEXEC);
}

void store_segment_destroy(store_segment_t *seg)
{
    if (seg->base)
        munmap(seg->base, seg->size);
    if (seg->fd >= 0)
        close(seg->fd);
    seg->base = NULL;
    seg->fd = -1;
    seg->size = 0;
}

size_t store_segment_populate(const store_segment_t *seg, size_t from, size_t len)
{
    size_t end, page = 4096;

    if (!seg->base || from >= seg->size)
        return 0;
    end = len > seg->size - from ? seg->size : from + len;
    from &= ~(page - 1);
    /* The kernel maps the pages writable without any store of ours touching
     * the bytes, so this runs safely while puts write into the segment.
     * (Touching from user space would race with them; a read-touch maps
     * shmem pages write-protected, and puts would still fault per page.)
     * Kernels before 5.14 lack the call: the pages then fault on first use. */
    madvise((char *)seg->base + from, end - from, MADV_POPULATE_WRITE);
    return end - from;
}
