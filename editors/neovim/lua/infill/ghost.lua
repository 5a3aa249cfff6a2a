-- Ghost text drawn by the plugin itself, for Neovim 0.10 and 0.11 (0.12 brings
-- vim.lsp.inline_completion). A request goes out on every change in insert mode and the one before
-- it is cancelled: the server decides when to ask the model (it throttles while you type and
-- answers typeahead and repeats from its cache), so waiting here would only add latency.

local M = {}

local api = vim.api
local highlight = require('infill.highlight')
local namespace = api.nvim_create_namespace('infill.ghost')
local INVOKED, AUTOMATIC = 1, 2 -- lsp.InlineCompletionTriggerKind

M.namespace = namespace

---@class infill.GhostState
---@field client_id integer?
---@field request_id integer? the request whose answer is awaited
---@field key string? changedtick and cursor the last request was made for
---@field row integer 0-based row of the ghost text
---@field col integer 0-based byte column of the ghost text
---@field items table[] inline completion items for (row, col)
---@field index integer the item shown
---@field invoked boolean? the items came from an explicit request (all candidates)

---@type table<integer, infill.GhostState>
local states = {}

-- Client methods take `self` from 0.11 on (`client:request`); 0.10 has plain functions.
local methods_take_self = vim.fn.has('nvim-0.11') == 1

--- `client:method(...)` on every supported Neovim.
function M.call(client, method, ...)
  if methods_take_self then
    return client[method](client, ...)
  end
  return client[method](...)
end

local call = M.call

local function state_of(bufnr)
  states[bufnr] = states[bufnr] or { items = {}, index = 1, row = 0, col = 0 }
  return states[bufnr]
end

local function client_of(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'infill' })[1]
end

local function cursor()
  local row, col = unpack(api.nvim_win_get_cursor(0))
  return row - 1, col
end

local function cancel(state)
  local client = state.client_id and vim.lsp.get_client_by_id(state.client_id)
  if client and state.request_id then
    call(client, 'cancel_request', state.request_id)
  end
  state.request_id = nil
end

local function hide(bufnr)
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, namespace, 0, -1)
  end
end

--- The item shown in the buffer, if any.
function M.current(bufnr)
  local state = states[bufnr]
  return state and state.items[state.index]
end

local function show(bufnr)
  hide(bufnr)
  local state = states[bufnr]
  local item = state and state.items[state.index]
  if not item then
    return
  end
  local lines = vim.split(item.insertText, '\n', { plain = true })
  local virt_text = { { lines[1], highlight.group } }
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], highlight.group } }
  end
  if #state.items > 1 then
    local last = virt_lines[#virt_lines] or virt_text
    last[#last + 1] = { (' (%d/%d)'):format(state.index, #state.items), 'MoreMsg' }
  end
  api.nvim_buf_set_extmark(bufnr, namespace, state.row, state.col, {
    virt_text = virt_text,
    virt_text_pos = 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = 'combine',
  })
end

--- Forget what is shown and the request on its way.
function M.clear(bufnr)
  local state = states[bufnr]
  if state then
    cancel(state)
    state.items, state.index, state.key, state.invoked = {}, 1, nil, nil
  end
  hide(bufnr)
end

local function same_position(a, b)
  return a.line == b.line and a.character == b.character
end

--- Ask the server for items at the cursor; `on_items(items)` gets those still valid when the
--- answer comes (same text, same cursor, still in insert mode).
local function request(bufnr, kind, on_items)
  local client = client_of(bufnr)
  if not client then
    return
  end
  local state = state_of(bufnr)
  cancel(state)
  local row, col = cursor()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind }
  local id
  local function handler(err, result)
    if state.request_id ~= id then
      return -- cancelled, or overtaken by a newer request
    end
    state.request_id = nil
    if err or not result or api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    local now_row, now_col = cursor()
    if now_row ~= row or now_col ~= col or not api.nvim_get_mode().mode:match('^i') then
      return
    end
    local items = {}
    for _, item in ipairs(result.items or result) do
      -- Items that replace text around the cursor are not drawn: infill's insert at it.
      local range = item.range
      local at_cursor = range == nil
        or (same_position(range.start, params.position) and same_position(range['end'], params.position))
      if type(item.insertText) == 'string' and item.insertText ~= '' and at_cursor then
        items[#items + 1] = { insertText = item.insertText, command = item.command }
      end
    end
    state.row, state.col = row, col
    on_items(items)
  end
  local ok, request_id =
    call(client, 'request', 'textDocument/inlineCompletion', params, handler, bufnr)
  if ok then
    id = request_id
    state.client_id, state.request_id = client.id, request_id
  end
end

--- Typing the start of what is shown keeps the rest on screen until the server's answer (from
--- its typeahead) replaces it; without this the ghost text would blink on every key.
local function advance(bufnr, state, row, col)
  local item = state.items[state.index]
  if not item or row ~= state.row or col <= state.col then
    return false
  end
  local typed = api.nvim_buf_get_text(bufnr, row, state.col, row, col, {})[1]
  local text = item.insertText
  if #typed >= #text or text:sub(1, #typed) ~= typed then
    return false
  end
  -- No command: its offer was the whole text; the server counts what was typed into it.
  state.items = { { insertText = text:sub(#typed + 1) } }
  state.index, state.col = 1, col
  show(bufnr)
  return true
end

--- TextChangedI, CursorMovedI, InsertEnter: a new request unless this state was asked about.
function M.on_change(bufnr)
  local state = state_of(bufnr)
  local row, col = cursor()
  local key = ('%d:%d:%d'):format(api.nvim_buf_get_changedtick(bufnr), row, col)
  if state.key == key then
    return
  end
  state.key = key
  state.invoked = nil
  if not advance(bufnr, state, row, col) then
    state.items, state.index = {}, 1
    hide(bufnr)
  end
  request(bufnr, AUTOMATIC, function(items)
    state.items, state.index = items, 1
    show(bufnr)
  end)
end

--- Insert the shown item at its place and run its command (the server counts the accept and
--- prepares the next suggestion). Returns false when nothing is shown.
function M.accept(bufnr)
  local state = states[bufnr]
  local item = state and state.items[state.index]
  if not item then
    return false
  end
  local row, col, client_id = state.row, state.col, state.client_id
  M.clear(bufnr)
  -- Scheduled: the accept key is an <expr> mapping, where the buffer may not be changed.
  vim.schedule(function()
    local lines = vim.split(item.insertText, '\n', { plain = true })
    api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
    local last_col = (#lines == 1 and col or 0) + #lines[#lines]
    api.nvim_win_set_cursor(0, { row + #lines, last_col })
    local client = client_id and vim.lsp.get_client_by_id(client_id)
    if client and item.command then
      local command = { command = item.command.command, arguments = item.command.arguments }
      call(client, 'request', 'workspace/executeCommand', command, function() end, bufnr)
    end
  end)
  return true
end

--- Show the next (step 1) or previous (step -1) candidate. The first time, ask the server
--- explicitly: typing gets one suggestion, an explicit request several.
function M.cycle(bufnr, step)
  local state = states[bufnr]
  if not state or #state.items == 0 then
    return false
  end
  if not state.invoked then
    state.invoked = true
    local shown = state.items[state.index].insertText
    request(bufnr, INVOKED, function(items)
      if #items == 0 then
        return
      end
      state.items, state.index = items, 1
      if #items > 1 then
        -- Move away from what was shown, whichever place the server ranked it.
        state.index = items[1].insertText == shown and (step > 0 and 2 or #items) or 1
      end
      show(bufnr)
    end)
    return true
  end
  state.index = (state.index - 1 + step) % #state.items + 1
  show(bufnr)
  return true
end

function M.attach(bufnr, is_enabled)
  local group = api.nvim_create_augroup('infill.ghost.' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'InsertEnter', 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      if is_enabled() then
        M.on_change(bufnr)
      end
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear(bufnr)
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear(bufnr)
      states[bufnr] = nil
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
end

return M
