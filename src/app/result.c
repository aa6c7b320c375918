/* result.c - the Fibonacci route's answer body, printed by cJSON. Pure: no loop, no allocation. */
#include <string.h>

#include <cjson/cJSON.h>

#include "fib.h"

size_t fib_result_json(uint64_t result, char *buf, size_t cap)
{
    /* cJSON keeps numbers as doubles, exact only up to 2^53 (F(78)); the digits go in raw so
     * F(92) = 7540113804746346429 comes out exact. */
    char digits[21];
    size_t n = sizeof(digits) - 1;
    digits[n] = '\0';
    do {
        digits[--n] = (char)('0' + result % 10);
        result /= 10;
    } while (result != 0);
    /* The tree is the three items on the stack, linked as cJSON_CreateObject and
     * cJSON_AddTrueToObject/cJSON_AddRawToObject would link them (cJSON.h documents the
     * struct): cJSON prints it without the six allocations building it would cost on every
     * light request. Nothing here is freed, so cJSON_Delete is never called on it. */
    cJSON success = {.type = cJSON_True | cJSON_StringIsConst, .string = (char *)"success"};
    cJSON value = {.type = cJSON_Raw | cJSON_StringIsConst, .string = (char *)"result",
                   .valuestring = digits + n};
    cJSON object = {.type = cJSON_Object, .child = &success};
    success.next = &value;
    success.prev = &value; /* cJSON: the first child's prev is the last child */
    value.prev = &success;
    if (buf == NULL || cap == 0 || cap > INT32_MAX ||
        !cJSON_PrintPreallocated(&object, buf, (int)cap, 0))
        return 0;
    return strlen(buf);
}
