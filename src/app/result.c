/* result.c - the Fibonacci route's answer body, printed by cJSON. Pure: no loop. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fib.h"

size_t fib_result_json(uint64_t result, char *buf, size_t cap)
{
    /* cJSON keeps numbers as doubles, exact only up to 2^53 (F(78)); the digits go in raw so
     * F(92) = 7540113804746346429 comes out exact. */
    char digits[24];
    snprintf(digits, sizeof(digits), "%" PRIu64, result);
    cJSON *json = cJSON_CreateObject();
    size_t len = 0;
    if (json != NULL && cJSON_AddTrueToObject(json, "success") != NULL &&
        cJSON_AddRawToObject(json, "result", digits) != NULL &&
        cJSON_PrintPreallocated(json, buf, (int)cap, 0))
        len = strlen(buf);
    cJSON_Delete(json);
    return len;
}
