#include "mesh/market/market.h"
