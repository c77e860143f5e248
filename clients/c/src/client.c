#include "mooncake_client.h"

#include "mc/errors.h"

const char *mooncake_client_version(void)
{
    return "0.1.0";
}

const char *mooncake_client_strerror(int code)
{
    return mc_err_name(code);
}
