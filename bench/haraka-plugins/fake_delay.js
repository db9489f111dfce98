// Haraka plugin (copied by the bench as plugins/fake_av.js and plugins/fake_spam.js): waits a
// fixed time in data_post and finds nothing. Haraka runs data_post hooks one after another, so
// two of them (5 ms + 50 ms) cost their sum. The delay in ms is config/<plugin name>.delay.
'use strict'

exports.register = function () {
    this.delay = Number(this.config.get(`${this.name}.delay`, 'value')) || 0
}

exports.hook_data_post = function (next) {
    setTimeout(next, this.delay)
}
