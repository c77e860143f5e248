/* Locks the compiler checks: clang's thread-safety analysis (-Wthread-safety)
 * over thin wrappers of the pthread mutex, rwlock and condvar wait.
 *
 * Declare each lock with what it guards and each function with the locks it
 * expects, and `scripts/threadsafety.sh` (run by `make test`) has clang prove
 * the rules:
 *
 *   mc_mutex_t lock;
 *   size_t n MC_GUARDED_BY(lock);          read or written only under lock
 *   item_t *items MC_PT_GUARDED_BY(lock);  the pointee is guarded, not the pointer
 *   static void do_add_locked(struct s *s) MC_REQUIRES(s->lock);
 *
 * Under gcc every macro expands to nothing and the wrappers are plain
 * pthread calls. The analysis is per function and does not follow a lock
 * through data (a lock taken in one function and released in another, a
 * lock picked from an array by a computed index); MC_NO_THREAD_SAFETY_ANALYSIS
 * opts a function out, always with a comment saying why. */
#ifndef MC_THREAD_H
#define MC_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#if defined(__clang__)
#define MC_TSA_(x) __attribute__((x))
#else
#define MC_TSA_(x)
#endif
/* Field guards: naming a sibling struct member from an attribute is C++-only
 * before clang 19 (llvm-project#95455), so older clangs (the fuzz build) get
 * none. The lock must be declared before the fields it guards. In C the guard
 * names the member, not one object's member: holding `a->lock` satisfies the
 * guard of `b->n` too, so the check finds a missing lock, not a wrong object. */
#if defined(__clang__) && __clang_major__ >= 19
#define MC_TSA_FIELD_(x) __attribute__((x))
#else
#define MC_TSA_FIELD_(x)
#endif

#define MC_CAPABILITY(name) MC_TSA_(capability(name))
#define MC_GUARDED_BY(lock) MC_TSA_FIELD_(guarded_by(&lock))
#define MC_PT_GUARDED_BY(lock) MC_TSA_FIELD_(pt_guarded_by(&lock))
#define MC_ACQUIRED_BEFORE(...) MC_TSA_FIELD_(acquired_before(__VA_ARGS__))
#define MC_ACQUIRED_AFTER(...) MC_TSA_FIELD_(acquired_after(__VA_ARGS__))
#define MC_REQUIRES(...) MC_TSA_(requires_capability(__VA_ARGS__))
#define MC_REQUIRES_SHARED(...) MC_TSA_(requires_shared_capability(__VA_ARGS__))
#define MC_ACQUIRE(...) MC_TSA_(acquire_capability(__VA_ARGS__))
#define MC_ACQUIRE_SHARED(...) MC_TSA_(acquire_shared_capability(__VA_ARGS__))
#define MC_RELEASE(...) MC_TSA_(release_capability(__VA_ARGS__))
#define MC_RELEASE_SHARED(...) MC_TSA_(release_shared_capability(__VA_ARGS__))
#define MC_RELEASE_GENERIC(...) MC_TSA_(release_generic_capability(__VA_ARGS__))
#define MC_TRY_ACQUIRE(...) MC_TSA_(try_acquire_capability(__VA_ARGS__))
#define MC_EXCLUDES(...) MC_TSA_(locks_excluded(__VA_ARGS__))
#define MC_ASSERT_CAPABILITY(lock) MC_TSA_(assert_capability(lock))
#define MC_RETURN_CAPABILITY(lock) MC_TSA_(lock_returned(lock))
#define MC_NO_THREAD_SAFETY_ANALYSIS MC_TSA_(no_thread_safety_analysis)

/* A mutex (default attributes). */
typedef struct MC_CAPABILITY("mutex") mc_mutex {
    pthread_mutex_t m;
} mc_mutex_t;

static inline int mc_mutex_init(mc_mutex_t *mu)
{
    return pthread_mutex_init(&mu->m, NULL);
}

static inline void mc_mutex_destroy(mc_mutex_t *mu)
{
    pthread_mutex_destroy(&mu->m);
}

static inline void mc_mutex_lock(mc_mutex_t *mu) MC_ACQUIRE(mu) MC_NO_THREAD_SAFETY_ANALYSIS
{
    pthread_mutex_lock(&mu->m);
}

/* true when the lock was taken */
static inline bool mc_mutex_trylock(mc_mutex_t *mu)
    MC_TRY_ACQUIRE(true, mu) MC_NO_THREAD_SAFETY_ANALYSIS
{
    return pthread_mutex_trylock(&mu->m) == 0;
}

static inline void mc_mutex_unlock(mc_mutex_t *mu) MC_RELEASE(mu) MC_NO_THREAD_SAFETY_ANALYSIS
{
    pthread_mutex_unlock(&mu->m);
}

/* A reader-writer lock: rdlock is shared, wrlock exclusive. */
typedef struct MC_CAPABILITY("rwlock") mc_rwlock {
    pthread_rwlock_t rw;
} mc_rwlock_t;

/* attr may be NULL. */
static inline int mc_rwlock_init(mc_rwlock_t *rw, const pthread_rwlockattr_t *attr)
{
    return pthread_rwlock_init(&rw->rw, attr);
}

static inline void mc_rwlock_destroy(mc_rwlock_t *rw)
{
    pthread_rwlock_destroy(&rw->rw);
}

static inline void mc_rwlock_rdlock(mc_rwlock_t *rw)
    MC_ACQUIRE_SHARED(rw) MC_NO_THREAD_SAFETY_ANALYSIS
{
    pthread_rwlock_rdlock(&rw->rw);
}

static inline void mc_rwlock_wrlock(mc_rwlock_t *rw) MC_ACQUIRE(rw) MC_NO_THREAD_SAFETY_ANALYSIS
{
    pthread_rwlock_wrlock(&rw->rw);
}

/* Releases a shared or an exclusive hold. */
static inline void mc_rwlock_unlock(mc_rwlock_t *rw)
    MC_RELEASE_GENERIC(rw) MC_NO_THREAD_SAFETY_ANALYSIS
{
    pthread_rwlock_unlock(&rw->rw);
}

/* Condition variables stay pthread_cond_t; the waits take the mc_mutex_t the
 * caller holds (released while waiting, held again on return). */
static inline void mc_cond_wait(pthread_cond_t *cv, mc_mutex_t *mu) MC_REQUIRES(mu)
{
    pthread_cond_wait(cv, &mu->m);
}

/* Waits until abs_deadline on the condvar's clock; 0, ETIMEDOUT or an error. */
static inline int mc_cond_timedwait(pthread_cond_t *cv, mc_mutex_t *mu,
                                    const struct timespec *abs_deadline) MC_REQUIRES(mu)
{
    return pthread_cond_timedwait(cv, &mu->m, abs_deadline);
}

/* A condvar whose timed waits use CLOCK_MONOTONIC; 0 or an errno value. */
static inline int mc_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

#endif
