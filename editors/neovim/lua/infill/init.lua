-- infill for Neovim: starts `infill serve` for the configured filetypes and shows its
-- suggestions as ghost text, with Neovim 0.12's vim.lsp.inline_completion or, on 0.10 and
-- 0.11 (or when asked to), with the plugin's own extmarks. See :help infill.

local M = {}

local api = vim.api
local ghost = require('infill.ghost')
local highlight = require('infill.highlight')
local next_edit = require('infill.next_edit')
local report = require('infill.report')

M.defaults = {
  -- The server; its last word `serve` is replaced by `stats` for :InfillStats.
  cmd = { 'infill', 'serve' },
  cmd_env = nil, -- extra environment variables for the server
  -- infill's settings (see its README): sent as initializationOptions and as the `infill`
  -- section of workspace/configuration.
  settings = {},
  filetypes = {
    'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust',
    'java', 'c', 'cpp', 'cs', 'ruby', 'php', 'lua', 'sh', 'bash',
  },
  -- As `infill complete` finds a project: a project inside a repository is its own workspace.
  root_markers = {
    '.git', 'pyproject.toml', 'setup.py', 'setup.cfg', 'package.json', 'Cargo.toml', 'go.mod',
    'pom.xml', 'build.gradle',
  },
  -- 'auto': vim.lsp.inline_completion where Neovim has it (0.12), else the plugin's extmarks;
  -- 'native' or 'extmark' to choose.
  ghost_text = 'auto',
  -- Insert-mode keys; with no suggestion shown, Tab and <C-]> do what they do without infill.
  -- false leaves a key unmapped (use require('infill').accept() and the others yourself).
  keys = { accept = '<Tab>', next = '<M-]>', prev = '<M-[>', dismiss = '<C-]>' },
  -- Next edits (:help infill-next-edit): asked for `delay` ms after a change; normal-mode keys.
  next_edit = { enabled = true, delay = 150, keys = { apply = '<Tab>', dismiss = '<Esc>' } },
}

M.config = vim.deepcopy(M.defaults)
M.enabled = true
-- The last `infill/status` notification: { state = 'ready' | 'backend-error' | ..., message }.
M.server_status = nil

local native_namespace = api.nvim_create_namespace('nvim.lsp.inline_completion')

local function has_native()
  return vim.fn.has('nvim-0.12') == 1 and pcall(require, 'vim.lsp.inline_completion')
end

--- 'native' or 'extmark': how ghost text is drawn with the current configuration.
function M.mode()
  local wanted = M.config.ghost_text
  if wanted == 'auto' then
    return has_native() and 'native' or 'extmark'
  end
  if wanted == 'native' and not has_native() then
    error('infill: ghost_text = "native" needs Neovim 0.12 (vim.lsp.inline_completion)')
  end
  return wanted
end

local function client_of(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'infill' })[1]
end

local function infill_buffers()
  local buffers = {}
  for _, client in ipairs(vim.lsp.get_clients({ name = 'infill' })) do
    for bufnr in pairs(client.attached_buffers) do
      buffers[#buffers + 1] = bufnr
    end
  end
  return buffers
end

-- Lua's empty table goes out as a JSON array; the server wants an object.
local function as_object(value)
  return next(value) == nil and vim.empty_dict() or value
end

local function cancel_native_requests(bufnr)
  local client = client_of(bufnr)
  if not client then
    return
  end
  for id, pending in pairs(client.requests) do
    if pending.bufnr == bufnr and pending.type == 'pending'
      and pending.method == 'textDocument/inlineCompletion' then
      client:cancel_request(id)
    end
  end
end

--- Accept the suggestion shown in `bufnr` (default: current). False when none is shown.
function M.accept(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if M.mode() == 'native' then
    return vim.lsp.inline_completion.get({ bufnr = bufnr })
  end
  return ghost.accept(bufnr)
end

--- Show the next (`step` 1) or previous (-1) candidate. False when nothing is shown.
function M.cycle(step, bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if M.mode() == 'native' then
    if #api.nvim_buf_get_extmarks(bufnr, native_namespace, 0, -1, { limit = 1 }) == 0 then
      return false
    end
    vim.lsp.inline_completion.select({ bufnr = bufnr, count = step })
    return true
  end
  return ghost.cycle(bufnr, step)
end

--- Hide the suggestion until the next change. False when nothing is shown.
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if M.mode() == 'native' then
    if #api.nvim_buf_get_extmarks(bufnr, native_namespace, 0, -1, { limit = 1 }) == 0 then
      return false
    end
    -- vim.lsp.inline_completion has no dismiss of its own: switching it off for the buffer
    -- drops the shown item, and on again it asks anew at the next change.
    cancel_native_requests(bufnr)
    vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    return true
  end
  if not ghost.current(bufnr) then
    return false
  end
  ghost.clear(bufnr)
  return true
end

--- Suggestions on or off, in every buffer.
function M.toggle()
  M.enabled = not M.enabled
  for _, bufnr in ipairs(infill_buffers()) do
    if M.mode() == 'native' then
      vim.lsp.inline_completion.enable(M.enabled, { bufnr = bufnr })
    else
      ghost.clear(bufnr)
    end
  end
  vim.notify('infill: suggestions ' .. (M.enabled and 'on' or 'off'))
end

--- A short text for a statusline: 'infill: ready', 'infill: backend-error', 'infill: off'.
function M.status()
  if not M.enabled then
    return 'infill: off'
  end
  if #vim.lsp.get_clients({ name = 'infill' }) == 0 then
    return 'infill: not running'
  end
  return 'infill: ' .. (M.server_status and M.server_status.state or 'ready')
end

local function scratch(name, lines, filetype)
  vim.cmd('botright vsplit')
  local bufnr = api.nvim_create_buf(false, true)
  api.nvim_win_set_buf(0, bufnr)
  api.nvim_buf_set_name(bufnr, ('%s [%d]'):format(name, bufnr))
  api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].filetype = filetype
  return bufnr
end

-- infill/explain's error answer where no suggestion may be made (its message says why).
local NO_SUGGESTION_HERE = -32803

--- :InfillExplain: the prompt infill would send at the cursor, its snippets, tokens, timings.
function M.explain()
  local bufnr = api.nvim_get_current_buf()
  local client = client_of(bufnr)
  if not client then
    vim.notify('infill: not running in this buffer', vim.log.levels.WARN)
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local function handler(err, result)
    if err and err.code == NO_SUGGESTION_HERE then
      vim.notify('infill: ' .. err.message, vim.log.levels.INFO)
    elseif err then
      vim.notify('infill: explain failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif result == nil or result == vim.NIL then
      vim.notify('infill: no suggestion is made at this position')
    else
      scratch('infill-explain', report.explanation(result), 'infill-explain')
    end
  end
  ghost.call(client, 'request', 'infill/explain', params, handler, bufnr)
end

--- The command for `infill stats`: the server's command with `stats` for its last `serve`.
function M.stats_cmd(days)
  local cmd = vim.deepcopy(M.config.cmd)
  if cmd[#cmd] == 'serve' then
    cmd[#cmd] = 'stats'
  else
    cmd[#cmd + 1] = 'stats'
  end
  if days then
    vim.list_extend(cmd, { '--days', tostring(days) })
  end
  return cmd
end

--- :InfillStats [DAYS]: the local metrics (`infill stats`) in a side window.
function M.stats(days)
  local cmd = M.stats_cmd(days)
  vim.system(cmd, { text = true, env = M.config.cmd_env }, vim.schedule_wrap(function(done)
    local output = done.code == 0 and done.stdout or (done.stdout .. done.stderr)
    local lines = vim.split(vim.trim(output), '\n', { plain = true })
    if done.code ~= 0 then
      table.insert(lines, 1, ('`%s` exited with %d:'):format(table.concat(cmd, ' '), done.code))
    end
    scratch('infill-stats', lines, 'infill-stats')
  end))
end

local function map_keys(bufnr)
  local actions = {
    accept = function()
      return M.accept(bufnr)
    end,
    next = function()
      return M.cycle(1, bufnr)
    end,
    prev = function()
      return M.cycle(-1, bufnr)
    end,
    dismiss = function()
      return M.dismiss(bufnr)
    end,
  }
  -- With nothing to act on, Tab is a Tab and <C-]> expands abbreviations as ever; the
  -- candidate keys do nothing (an unmapped Alt key would leave insert mode).
  local passes_through = { accept = true, dismiss = true }
  for name, action in pairs(actions) do
    local lhs = M.config.keys[name]
    if lhs then
      vim.keymap.set('i', lhs, function()
        return (action() or not passes_through[name]) and '' or lhs
      end, { buffer = bufnr, expr = true, desc = 'infill: ' .. name })
    end
  end
end

local function at(position, range)
  return range.start.line == position.line and range.start.character == position.character
    and range['end'].line == position.line and range['end'].character == position.character
end

-- Neovim 0.12 draws an item that has a range as an overlay, which hides the text right of the
-- cursor (the `)` of `print(|)`) while the suggestion is shown. infill's ranges are always
-- empty at the cursor, which is what an item without a range means: drop them, and it draws
-- the suggestion inline.
local function without_empty_ranges(client)
  if client._infill_wrapped then
    return
  end
  client._infill_wrapped = true
  local request = client.request
  client.request = function(self, method, params, handler, ...)
    if method == 'textDocument/inlineCompletion' and handler then
      local handle = handler
      handler = function(err, result, ...)
        local items = type(result) == 'table' and (result.items or result) or {}
        for _, item in ipairs(items) do
          if item.range and at(params.position, item.range) then
            item.range = nil
          end
        end
        return handle(err, result, ...)
      end
    end
    return request(self, method, params, handler, ...)
  end
end

-- Where the user is when they enter a buffer or the cursor rests: the server has a local
-- model's server read the prompt's head (the other files' code) before the first key needs it.
local function send_focus(client, bufnr)
  local function focus()
    if api.nvim_get_current_buf() == bufnr then
      client:notify('infill/didFocus', vim.lsp.util.make_position_params(0, client.offset_encoding))
    end
  end
  api.nvim_create_autocmd({ 'BufEnter', 'CursorHold' }, {
    group = api.nvim_create_augroup('infill_focus_' .. bufnr, { clear = true }),
    buffer = bufnr,
    callback = focus,
  })
  focus()
end

local function on_attach(client, bufnr)
  send_focus(client, bufnr)
  if M.mode() == 'native' then
    without_empty_ranges(client)
    vim.lsp.inline_completion.enable(M.enabled, { bufnr = bufnr })
  else
    ghost.attach(bufnr, function()
      return M.enabled
    end)
  end
  map_keys(bufnr)
  if M.config.next_edit.enabled then
    next_edit.attach(bufnr, M.config.next_edit, function()
      return M.enabled
    end)
  end
end

local function start(bufnr)
  if vim.bo[bufnr].buftype ~= '' then
    return
  end
  local name = api.nvim_buf_get_name(bufnr)
  local root = vim.fs.root(bufnr, M.config.root_markers)
    or (name ~= '' and vim.fs.dirname(name))
    or vim.fn.getcwd()
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  -- Without it the server would also offer its completion-menu fallback.
  capabilities.textDocument.inlineCompletion = { dynamicRegistration = false }
  local settings = as_object(M.config.settings)
  vim.lsp.start({
    name = 'infill',
    cmd = M.config.cmd,
    cmd_env = M.config.cmd_env,
    root_dir = root,
    capabilities = capabilities,
    init_options = settings,
    settings = { infill = settings },
    handlers = {
      ['infill/status'] = function(_, params)
        M.server_status = params
        api.nvim_exec_autocmds('User', { pattern = 'InfillStatus', modeline = false })
      end,
    },
    on_attach = on_attach,
  }, { bufnr = bufnr })
end

--- require('infill').setup({ settings = { backend = { ... } }, ... }): see :help infill.
function M.setup(options)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), options or {})
  for _, list in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if options and options[list] then
      M.config[list] = options[list] -- a list replaces the default, not merged item by item
    end
  end
  M.mode() -- fails early on a ghost_text that this Neovim cannot do

  local group = api.nvim_create_augroup('infill', { clear = true })
  highlight.setup(group)
  api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(event)
      start(event.buf)
    end,
  })
  -- Buffers already open when setup() runs (lazy loading).
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      start(bufnr)
    end
  end

  api.nvim_create_user_command('InfillToggle', M.toggle, { desc = 'infill: suggestions on/off' })
  api.nvim_create_user_command('InfillExplain', M.explain, {
    desc = 'infill: the prompt and context for a suggestion at the cursor',
  })
  api.nvim_create_user_command('InfillStats', function(command)
    M.stats(tonumber(command.args))
  end, { nargs = '?', desc = 'infill: local metrics (infill stats [--days N])' })
end

return M
