#include "mc/errors.h"

#include <criterion/criterion.h>
#include <string.h>

Test(errors, mooncake_numbers)
{
    cr_expect_eq(MC_OK, 0);
    cr_expect_eq(MC_INTERNAL_ERROR, -1);
    cr_expect_eq(MC_BUFFER_OVERFLOW, -10);
    cr_expect_eq(MC_SEGMENT_NOT_FOUND, -101);
    cr_expect_eq(MC_NO_AVAILABLE_HANDLE, -200);
    cr_expect_eq(MC_INVALID_PARAMS, -600);
    cr_expect_eq(MC_ILLEGAL_CLIENT, -601);
    cr_expect_eq(MC_OBJECT_NOT_FOUND, -704);
    cr_expect_eq(MC_OBJECT_HAS_LEASE, -706);
    cr_expect_eq(MC_LEASE_EXPIRED, -707);
    cr_expect_eq(MC_TRANSFER_FAIL, -800);
    cr_expect_eq(MC_RPC_FAIL, -900);
    cr_expect_eq(MC_ETCD_OPERATION_ERROR, -1000);
    cr_expect_eq(MC_FILE_NOT_FOUND, -1100);
    cr_expect_eq(MC_BUCKET_NOT_FOUND, -1200);
}

Test(errors, names_and_status)
{
    cr_expect_str_eq(mc_err_name(-704), "OBJECT_NOT_FOUND");
    cr_expect_str_eq(mc_err_name(0), "OK");
    cr_expect_str_eq(mc_err_name(-12345), "UNKNOWN_ERROR");
    cr_expect_eq(mc_err_http_status(MC_OBJECT_NOT_FOUND), 404);
    cr_expect_eq(mc_err_http_status(MC_INVALID_PARAMS), 400);
    cr_expect_eq(mc_err_http_status(MC_NO_AVAILABLE_HANDLE), 507);
    cr_expect_eq(mc_err_http_status(-12345), 500);
    cr_expect(mc_err_known(-706));
    cr_expect_not(mc_err_known(-2));
    cr_expect_str_neq(mc_err_desc(-706), "unknown error");
}

Test(errors, name_round_trip)
{
#define CHECK_(name, code, http, desc) cr_expect_eq(mc_err_from_name(#name), code, #name);
    MC_ERROR_MAP(CHECK_)
#undef CHECK_
    cr_expect_eq(mc_err_from_name("NOPE"), 1);
    cr_expect_eq(mc_err_from_name(NULL), 1);
}

Test(errors, from_http_status)
{
    cr_expect_eq(mc_err_from_http_status(200), MC_OK);
    cr_expect_eq(mc_err_from_http_status(204), MC_OK);
    cr_expect_eq(mc_err_from_http_status(404), MC_OBJECT_NOT_FOUND);
    cr_expect_eq(mc_err_from_http_status(400), MC_INVALID_PARAMS);
    cr_expect_eq(mc_err_from_http_status(413), MC_INVALID_PARAMS);
    cr_expect_eq(mc_err_from_http_status(503), MC_RPC_FAIL);
    cr_expect_eq(mc_err_from_http_status(500), MC_INTERNAL_ERROR);
}

Test(errors, fail_formats_and_returns_the_code)
{
    mc_errmsg_t e = {"untouched"};
    char big[700];

    cr_expect_eq(mc_fail(NULL, MC_INVALID_KEY, "no %s", "buffer"), MC_INVALID_KEY);
    cr_expect_eq(mc_fail(&e, MC_RPC_FAIL, "master %s:%d", "h", 5), MC_RPC_FAIL);
    cr_expect_str_eq(e.msg, "master h:5");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_expect_eq(mc_fail(&e, -1, "%s", big), -1);
    cr_expect_eq(strlen(e.msg), sizeof(e.msg) - 1, "truncated, terminated");
}
