/* argv arrays below are built from string literals */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#include "mc/config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char host[16];
    uint64_t port;
    uint64_t seg;
    int64_t delta;
    double ratio;
    bool flag;
    char mode[32];
} cfg_t;

static const mc_opt_t opts[] = {
    MC_OPT_STR(cfg_t, host, "host", "127.0.0.1", NULL, "TEST_MC_HOST", "listen address"),
    MC_OPT_UINT(cfg_t, port, "port", "8080", 1, 65535, "TEST_MC_PORT,TEST_MC_PORT2", "port"),
    MC_OPT_SIZE(cfg_t, seg, "global_segment_size", "16MB", 0, 1099511627776.0, "TEST_MC_SEG",
                "segment"),
    MC_OPT_INT(cfg_t, delta, "delta", "-3", -10, 10, NULL, "delta"),
    MC_OPT_DOUBLE(cfg_t, ratio, "ratio", "0.95", 0, 1, NULL, "ratio"),
    MC_OPT_BOOL(cfg_t, flag, "flag", "false", "TEST_MC_FLAG", "flag"),
    MC_OPT_STR(cfg_t, mode, "mode", "random", "random|free_ratio_first", NULL, "mode"),
};
static const mc_cfg_spec_t spec = {"testprog", "A test program.", opts,
                                   sizeof(opts) / sizeof(opts[0])};

static mc_cfg_status_t load(cfg_t *c, mc_cfg_result_t *r, int argc, char **argv)
{
    memset(c, 0x5a, sizeof(*c));
    return mc_config_load(&spec, c, argc, argv, r);
}

static void clear_env(void)
{
    unsetenv("TEST_MC_HOST");
    unsetenv("TEST_MC_PORT");
    unsetenv("TEST_MC_PORT2");
    unsetenv("TEST_MC_SEG");
    unsetenv("TEST_MC_FLAG");
    unsetenv("MOONCAKE_CONFIG_PATH");
}

TestSuite(config, .init = clear_env);

Test(config, defaults)
{
    cfg_t c;
    mc_cfg_result_t r;
    char *argv[] = {"testprog", NULL};
    cr_assert_eq(load(&c, &r, 1, argv), MC_CFG_LOADED, "%s", r.err.msg);
    cr_expect_str_eq(c.host, "127.0.0.1");
    cr_expect_eq(c.port, 8080);
    cr_expect_eq(c.seg, 16u << 20);
    cr_expect_eq(c.delta, -3);
    cr_expect_float_eq(c.ratio, 0.95, 1e-12);
    cr_expect_not(c.flag);
    cr_expect_str_eq(c.mode, "random");
}

Test(config, flag_forms)
{
    cfg_t c;
    mc_cfg_result_t r;
    char *argv[] = {"testprog",
                    "--port=9000",
                    "--host",
                    "10.0.0.1",
                    "-global_segment_size=4gb",
                    "--flag",
                    "--ratio",
                    "0.5",
                    "--mode=free_ratio_first",
                    "--delta=-10",
                    NULL};
    cr_assert_eq(load(&c, &r, 10, argv), MC_CFG_LOADED, "%s", r.err.msg);
    cr_expect_eq(c.port, 9000);
    cr_expect_str_eq(c.host, "10.0.0.1");
    cr_expect_eq(c.seg, 4ull << 30);
    cr_expect(c.flag);
    cr_expect_float_eq(c.ratio, 0.5, 1e-12);
    cr_expect_str_eq(c.mode, "free_ratio_first");
    cr_expect_eq(c.delta, -10);
}

Test(config, noflag_and_explicit_bool)
{
    cfg_t c;
    mc_cfg_result_t r;
    char *argv[] = {"testprog", "--flag=true", "--noflag", NULL};
    cr_assert_eq(load(&c, &r, 3, argv), MC_CFG_LOADED, "%s", r.err.msg);
    cr_expect_not(c.flag);
}

static void expect_error(char **argv, int argc, const char *needle)
{
    cfg_t c;
    mc_cfg_result_t r;
    cr_expect_eq(load(&c, &r, argc, argv), MC_CFG_ERROR, "%s", needle);
    cr_expect_not_null(strstr(r.err.msg, needle), "'%s' not in '%s'", needle, r.err.msg);
    cr_expect_null(strchr(r.err.msg, '\n'), "error must be one line: %s", r.err.msg);
}

Test(config, bad_flags_name_the_option)
{
    char *a1[] = {"testprog", "--port=abc"};
    char *a2[] = {"testprog", "--port=70000"};
    char *a3[] = {"testprog", "--bogus=1"};
    char *a4[] = {"testprog", "--port"};
    char *a5[] = {"testprog", "stray"};
    char *a6[] = {"testprog", "--mode=best"};
    char *a7[] = {"testprog", "--host=0123456789abcdefXYZ"};
    char *a8[] = {"testprog", "--global_segment_size=lots"};
    char *a9[] = {"testprog", "--flag=maybe"};
    char *a10[] = {"testprog", "--ratio=1.5"};
    expect_error(a1, 2, "--port: 'abc'");
    expect_error(a2, 2, "--port: '70000' out of range");
    expect_error(a3, 2, "unknown option --bogus");
    expect_error(a4, 2, "--port: missing value");
    expect_error(a5, 2, "unexpected argument 'stray'");
    expect_error(a6, 2, "--mode: 'best' is not one of random|free_ratio_first");
    expect_error(a7, 2, "--host: longer than 15 bytes");
    expect_error(a8, 2, "--global_segment_size: 'lots' is not a size");
    expect_error(a9, 2, "--flag: 'maybe'");
    expect_error(a10, 2, "--ratio: '1.5' out of range");
}

static char *write_tmp(const char *text)
{
    static char path[64];
    int fd;
    snprintf(path, sizeof(path), "/tmp/mc_cfg_test_XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, precedence_file_env_flag)
{
    cfg_t c;
    mc_cfg_result_t r;
    char *path = write_tmp("{\"port\": 1111, \"host\": \"1.1.1.1\", \"global_segment_size\": "
                           "\"1.5GB\", \"flag\": true, \"protocol\": \"tcp\", \"ratio\": 0.25}");
    char arg[128];
    char *argv[] = {"testprog", arg, "--port=3333", NULL};
    snprintf(arg, sizeof(arg), "--config=%s", path);
    setenv("TEST_MC_PORT2", "2222", 1);
    setenv("TEST_MC_HOST", "2.2.2.2", 1);
    cr_assert_eq(load(&c, &r, 3, argv), MC_CFG_LOADED, "%s", r.err.msg);
    cr_expect_eq(c.port, 3333);          /* flag beats env and file */
    cr_expect_str_eq(c.host, "2.2.2.2"); /* env beats file */
    cr_expect_eq(c.seg, 3ull << 29);     /* file beats default */
    cr_expect(c.flag);
    cr_expect_float_eq(c.ratio, 0.25, 1e-12);
    cr_expect_str_eq(r.ignored_keys, "protocol");
    cr_expect_str_eq(r.config_path, path);
    unlink(path);
}

Test(config, env_config_path_and_first_env_name_wins)
{
    cfg_t c;
    mc_cfg_result_t r;
    char *path = write_tmp("{\"delta\": 4}");
    char *argv[] = {"testprog", NULL};
    setenv("MOONCAKE_CONFIG_PATH", path, 1);
    setenv("TEST_MC_PORT", "4444", 1);
    setenv("TEST_MC_PORT2", "5555", 1);
    cr_assert_eq(load(&c, &r, 1, argv), MC_CFG_LOADED, "%s", r.err.msg);
    cr_expect_eq(c.delta, 4);
    cr_expect_eq(c.port, 4444);
    unlink(path);
}

Test(config, bad_env)
{
    cfg_t c;
    mc_cfg_result_t r;
    char *argv[] = {"testprog", NULL};
    setenv("TEST_MC_SEG", "huge", 1);
    cr_expect_eq(load(&c, &r, 1, argv), MC_CFG_ERROR);
    cr_expect_not_null(strstr(r.err.msg, "environment TEST_MC_SEG (option --global_segment_size)"),
                       "%s", r.err.msg);
}

Test(config, bad_files)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"{\"port\": ", "malformed JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"port\": \"x\"}", "option 'port': 'x' is not a non-negative integer"},
        {"{\"port\": [1]}", "option 'port': expected a uint"},
        {"{\"host\": 5}", "option 'host': expected a string"},
        {"{\"ratio\": 2}", "option 'ratio': '2' out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg_t c;
        mc_cfg_result_t r;
        char *path = write_tmp(cases[i].text);
        char arg[128];
        char *argv[] = {"testprog", arg, NULL};
        snprintf(arg, sizeof(arg), "--config=%s", path);
        cr_expect_eq(load(&c, &r, 2, argv), MC_CFG_ERROR, "%s", cases[i].text);
        cr_expect_not_null(strstr(r.err.msg, cases[i].needle), "'%s' not in '%s'", cases[i].needle,
                           r.err.msg);
        cr_expect_null(strchr(r.err.msg, '\n'));
        unlink(path);
    }
    {
        cfg_t c;
        mc_cfg_result_t r;
        char *argv[] = {"testprog", "--config", "/nonexistent/x.json", NULL};
        cr_expect_eq(load(&c, &r, 3, argv), MC_CFG_ERROR);
        cr_expect_not_null(strstr(r.err.msg, "/nonexistent/x.json: No such file"), "%s", r.err.msg);
    }
}

Test(config, help_and_markdown)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mc_config_print_help(&spec, f);
    mc_config_print_markdown(&spec, f);
    fclose(f);
    cr_expect_not_null(strstr(buf, "Usage: testprog"));
    cr_expect_not_null(strstr(buf, "--global_segment_size=<size>"));
    cr_expect_not_null(strstr(buf, "env: TEST_MC_PORT,TEST_MC_PORT2"));
    cr_expect_not_null(strstr(buf, "| `--port` | uint | `8080` | 1..65535 |"));
    cr_expect_not_null(strstr(buf, "one of random/free_ratio_first"));
    free(buf);
}

Test(config, all_defaults_valid)
{
    cfg_t c;
    mc_cfg_result_t r;
    cr_expect_eq(mc_config_defaults(&spec, &c, &r), MC_CFG_LOADED, "%s", r.err.msg);
}
