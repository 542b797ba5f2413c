// The one include of the Cryptoki (PKCS#11) C header. p11-kit ships the standard v2.40/v3.0 header;
// the module itself is loaded at run time with dlopen (see module.h), never linked.
#pragma once

#include <p11-kit/pkcs11.h>
