// Haraka plugin: answers the lookup_rdns hook itself, so Haraka does no reverse DNS lookup per
// connection (the proxy runs with listen.reverseLookup: false).
'use strict'

exports.hook_lookup_rdns = function (next, connection) {
    next(OK, 'localhost')
}
