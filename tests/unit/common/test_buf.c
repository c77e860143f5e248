#include "mc/buf.h"
#include "mc/errors.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(buf, append_printf_take)
{
    mc_buf_t b;
    size_t len = 99;
    char *s;

    mc_buf_init(&b, 0);
    cr_expect_eq(mc_buf_append(&b, "ab", 2), MC_OK);
    cr_expect_eq(mc_buf_printf(&b, "-%d-%s", 42, "x"), MC_OK);
    for (int i = 0; i < 1000; i++) /* grows past the first allocation */
        cr_assert_eq(mc_buf_append(&b, "0123456789", 10), MC_OK);
    s = mc_buf_take(&b, &len);
    cr_assert_not_null(s);
    cr_expect_eq(len, 7 + 10000);
    cr_expect(strncmp(s, "ab-42-x0123", 11) == 0);
    cr_expect_eq(s[len], '\0');
    free(s);
    cr_expect_null(b.data); /* ownership left with the text */
    cr_expect_eq(b.len, 0);
    s = mc_buf_take(&b, &len); /* empty is "", not NULL */
    cr_assert_not_null(s);
    cr_expect_eq(len, 0);
    free(s);
}

Test(buf, cap_is_overflow_and_sticks)
{
    mc_buf_t b;
    size_t len = 0;

    mc_buf_init(&b, 8);
    cr_expect_eq(mc_buf_append(&b, "12345678", 8), MC_OK); /* exactly the cap */
    cr_expect_eq(mc_buf_append(&b, "9", 1), MC_BUFFER_OVERFLOW);
    cr_expect_eq(mc_buf_append(&b, "", 0), MC_BUFFER_OVERFLOW); /* sticky */
    cr_expect_eq(mc_buf_printf(&b, "x"), MC_BUFFER_OVERFLOW);
    cr_expect_null(mc_buf_take(&b, &len));
    cr_expect_eq(b.max, 8); /* reusable with the same cap */
    cr_expect_eq(mc_buf_printf(&b, "%s", "toolongtext"), MC_BUFFER_OVERFLOW);
    mc_buf_cleanup(&b);
}

Test(buf, out_of_memory_is_not_overflow)
{
    mc_buf_t b;

    mc_buf_init(&b, 0);
    /* a reservation no allocator grants: an out-of-memory, never a 413-class error */
    cr_expect_eq(mc_buf_reserve(&b, (size_t)1 << 62), MC_INTERNAL_ERROR);
    cr_expect_eq(mc_buf_append(&b, "a", 1), MC_INTERNAL_ERROR);
    mc_buf_cleanup(&b);
}
